//! OCI images without Docker: root filesystems into layers, images, registry pushes and image
//! layouts, plus the project's test images.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tug_oci::Error> {
//! use tug_oci::{ImageConfig, Layer, Registry, Rootfs, image::Image};
//! let mut rootfs = Rootfs::new();
//! rootfs.file("hello.txt", b"hi".to_vec(), 0o644);
//! let image = Image::build(vec![Layer::from_rootfs(&rootfs)?], &ImageConfig::default())?;
//! Registry::http("127.0.0.1:5000").push(&image, "demo/hello", &["latest"]).await?;
//! # Ok(()) }
//! ```

pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod testimages;
#[cfg(feature = "testing")]
pub mod testing;

pub use digest::Digest;
pub use error::{Error, Result};
pub use image::{Image, ImageConfig};
pub use layer::Layer;
pub use reference::Reference;
pub use registry::Registry;
pub use rootfs::Rootfs;
