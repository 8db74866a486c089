//! The project's test images: busybox (from Debian's busybox-static), the test server, and a
//! pause image for containerd's sandboxes, with the names tests pull them by.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{Error, Image, ImageConfig, Layer, Registry, Result, Rootfs};

/// `repository:tag` of each image, relative to the registry that serves them.
pub const BUSYBOX: &str = "tugboat/busybox:1.35";
pub const TESTSERVER: &str = "tugboat/testserver:latest";
pub const PAUSE: &str = "tugboat/pause:3.10";
/// Also pushed, for tests that leave the tag out.
pub const BUSYBOX_LATEST: &str = "tugboat/busybox:latest";
/// Docker Hub's names for busybox, pushed when asked so that a registry standing in for
/// docker.io behind a registry mirror serves the tutorials' images offline. The tags are the
/// ones upstream's documentation uses (1.28); they all hold Debian's busybox 1.35.
/// `stable` is what kube-rs's own cluster tests run.
pub const BUSYBOX_DOCKER_HUB: [&str; 4] =
    ["library/busybox:latest", "library/busybox:1.35", "library/busybox:1.28", "library/busybox:stable"];
/// Docker Hub's names for nginx, pushed with [`BUSYBOX_DOCKER_HUB`]: the test server serving
/// a welcome page on port 80, which is all the tutorials ask of nginx (tags from upstream's
/// Deployment examples; `nginx:1.161`, their broken tag, stays absent on purpose).
pub const NGINX_DOCKER_HUB: [&str; 3] =
    ["library/nginx:latest", "library/nginx:1.14.2", "library/nginx:1.16.1"];
/// registry.k8s.io's names for the pause image (the sandbox image of Kubernetes 1.35 and
/// containerd 1.6's default), pushed with [`BUSYBOX_DOCKER_HUB`], for a registry behind a
/// registry.k8s.io mirror.
pub const PAUSE_REGISTRY_K8S: [&str; 2] = ["pause:3.10", "pause:3.6"];
const NGINX_INDEX: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n<body>\n\
<h1>Welcome to nginx!</h1>\n<p>Served by Tugboat's test server standing in for nginx.</p>\n</body>\n</html>\n";

/// The ports the test server listens on by default (HTTP, TCP echo, gRPC health).
pub const TESTSERVER_HTTP_PORT: u16 = 8080;
pub const TESTSERVER_TCP_ECHO_PORT: u16 = 9000;
pub const TESTSERVER_GRPC_PORT: u16 = 9090;

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the image contents come from.
#[derive(Clone, Debug)]
pub struct Sources {
    /// A static busybox: `$TUG_BUSYBOX` or Debian's `/bin/busybox`.
    pub busybox: PathBuf,
    /// The static `tug-testserver` binary ([`build_testserver`]).
    pub testserver: PathBuf,
    /// Also push busybox and an nginx stand-in under Docker Hub's names, and pause under
    /// registry.k8s.io's ([`BUSYBOX_DOCKER_HUB`], [`NGINX_DOCKER_HUB`], [`PAUSE_REGISTRY_K8S`]).
    pub docker_hub_names: bool,
}

/// An image with the `repository:tag` names it is pushed under.
#[derive(Clone, Debug)]
pub struct TestImage {
    pub names: Vec<String>,
    pub image: Image,
}

impl Sources {
    /// Debian's busybox and a freshly built test server.
    ///
    /// # Errors
    /// As [`build_testserver`].
    pub fn local() -> Result<Sources> {
        Ok(Sources { busybox: busybox_binary(), testserver: build_testserver()?, docker_hub_names: false })
    }
}

/// The busybox binary the images are made from: `$TUG_BUSYBOX`, else `/bin/busybox`.
pub fn busybox_binary() -> PathBuf {
    std::env::var_os("TUG_BUSYBOX").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

/// Builds every test image.
///
/// # Errors
/// [`Error::Io`] if a source is missing (install busybox-static) or unreadable.
pub fn build_all(sources: &Sources) -> Result<Vec<TestImage>> {
    let base = Layer::from_rootfs(&busybox_rootfs(&sources.busybox)?)?;
    let busybox = Image::build(
        vec![base.clone()],
        &ImageConfig { cmd: vec!["sh".into()], env: vec![PATH_ENV.into()], ..ImageConfig::default() },
    )?;
    let mut busybox_names = vec![BUSYBOX.to_string(), BUSYBOX_LATEST.to_string()];
    if sources.docker_hub_names {
        busybox_names.extend(BUSYBOX_DOCKER_HUB.iter().map(|n| n.to_string()));
    }

    // The server sits on top of busybox, so that exec probes and `kubectl exec` have a shell;
    // the base layer is the same blob as busybox's, stored once.
    let mut server = Rootfs::new();
    server.copy_file(&sources.testserver, "testserver")?;
    let server = Layer::from_rootfs(&server)?;
    let testserver = Image::build(
        vec![base.clone(), server.clone()],
        &ImageConfig {
            entrypoint: vec!["/testserver".into()],
            env: vec![PATH_ENV.into()],
            exposed_ports: vec![
                format!("{TESTSERVER_HTTP_PORT}/tcp"),
                format!("{TESTSERVER_TCP_ECHO_PORT}/tcp"),
                format!("{TESTSERVER_GRPC_PORT}/tcp"),
            ],
            ..ImageConfig::default()
        },
    )?;

    // The same binary acts as the pause process when called `pause`; like upstream's image
    // it runs as 65535.
    let mut pause = Rootfs::new();
    pause.copy_file(&sources.testserver, "pause")?;
    let pause = Image::build(
        vec![Layer::from_rootfs(&pause)?],
        &ImageConfig {
            entrypoint: vec!["/pause".into()],
            user: Some("65535:65535".into()),
            ..ImageConfig::default()
        },
    )?;

    let mut pause_names = vec![PAUSE.to_string()];
    if sources.docker_hub_names {
        pause_names.extend(PAUSE_REGISTRY_K8S.iter().map(|n| n.to_string()));
    }
    let mut images = vec![
        TestImage { names: busybox_names, image: busybox },
        TestImage { names: vec![TESTSERVER.into()], image: testserver },
        TestImage { names: pause_names, image: pause },
    ];
    if sources.docker_hub_names {
        let nginx = Image::build(
            vec![base, server],
            &ImageConfig {
                entrypoint: vec!["/testserver".into()],
                cmd: ["--http-port", "80", "--tcp-port", "off", "--grpc-port", "off", "--index", NGINX_INDEX]
                    .map(String::from)
                    .to_vec(),
                env: vec![PATH_ENV.into()],
                exposed_ports: vec!["80/tcp".into()],
                ..ImageConfig::default()
            },
        )?;
        images.push(TestImage { names: NGINX_DOCKER_HUB.map(String::from).to_vec(), image: nginx });
    }
    Ok(images)
}

/// The names [`build_all`] gives its images, without building them.
pub fn names(docker_hub_names: bool) -> Vec<&'static str> {
    let mut names = vec![BUSYBOX, BUSYBOX_LATEST, TESTSERVER, PAUSE];
    if docker_hub_names {
        names.extend(BUSYBOX_DOCKER_HUB);
        names.extend(NGINX_DOCKER_HUB);
        names.extend(PAUSE_REGISTRY_K8S);
    }
    names
}

/// The image `images` pushes under `name` (`tugboat/pause:3.10`).
pub fn find<'a>(images: &'a [TestImage], name: &str) -> Option<&'a Image> {
    images.iter().find(|i| i.names.iter().any(|n| n == name)).map(|i| &i.image)
}

/// Pushes `images` to the registry at `host` (`127.0.0.1:5000`), answering the full names
/// pushed (`127.0.0.1:5000/tugboat/busybox:1.35`).
///
/// # Errors
/// As [`Registry::push`].
pub async fn push_all(host: &str, images: &[TestImage]) -> Result<Vec<String>> {
    let registry = Registry::http(host);
    let mut pushed = Vec::new();
    for test_image in images {
        for name in &test_image.names {
            let (repository, tag) = split_name(name)?;
            registry.push(&test_image.image, repository, &[tag]).await?;
            pushed.push(format!("{host}/{name}"));
        }
    }
    Ok(pushed)
}

/// Splits `repository:tag`.
///
/// # Errors
/// [`Error::Invalid`] without a tag.
pub fn split_name(name: &str) -> Result<(&str, &str)> {
    name.rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .ok_or_else(|| Error::Invalid(format!("{name:?}: expected repository:tag")))
}

/// Busybox with a symlink for each of its applets where Debian would put the command,
/// plus the few files a shell user expects (/etc/passwd, /etc/group, /tmp, /root).
///
/// # Errors
/// [`Error::Io`] if busybox is missing or cannot list its applets.
pub fn busybox_rootfs(busybox: &Path) -> Result<Rootfs> {
    let output = Command::new(busybox).arg("--list-full").output().map_err(|e| {
        Error::io(format!("run {} --list-full (install Debian's busybox-static)", busybox.display()), e)
    })?;
    if !output.status.success() {
        return Err(Error::Invalid(format!("{} --list-full: {}", busybox.display(), output.status)));
    }
    let applets = String::from_utf8_lossy(&output.stdout);
    let mut fs = Rootfs::new();
    fs.copy_file(busybox, "bin/busybox")?;
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "bin/busybox") {
        fs.symlink(applet, "/bin/busybox");
    }
    fs.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_vec(),
        0o644,
    )
    .file("etc/group", b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644)
    .dir("tmp", 0o1777)
    .dir("root", 0o700);
    Ok(fs)
}

/// Builds `tug-testserver` as a static executable (glibc's static libraries, so it runs in
/// an empty root filesystem) and answers its path. Uses `$TUG_TESTSERVER_BIN` instead when set.
///
/// The build targets the host triple explicitly, so the static-linking flag reaches only the
/// test server (which depends on libc alone) and never the workspace's other builds; it lands
/// in `<target dir>/<triple>/release/`.
///
/// # Errors
/// [`Error::Io`] if cargo cannot be run, [`Error::Invalid`] if the build fails.
pub fn build_testserver() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("TUG_TESTSERVER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "--release", "-p", "tug-testserver", "--target", &triple])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target_dir)
        // Stripped: the symbols would triple the image for nothing a test reads.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static\x1f-Cstrip=symbols")
        .env_remove("RUSTFLAGS")
        .status()
        .map_err(|e| Error::io(format!("run {}", Path::new(&cargo).display()), e))?;
    if !status.success() {
        return Err(Error::Invalid(format!("cargo build -p tug-testserver: {status}")));
    }
    Ok(target_dir.join(triple).join("release/tug-testserver"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_repository_and_tag() {
        assert_eq!(split_name(BUSYBOX).unwrap(), ("tugboat/busybox", "1.35"));
        assert_eq!(split_name("a/b:latest").unwrap(), ("a/b", "latest"));
        assert!(split_name("host:5000/a").is_err());
    }

    #[test]
    fn images_share_the_busybox_layer_and_set_entrypoints() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in busybox: a script that lists two applets.
        let fake = dir.path().join("busybox");
        std::fs::write(&fake, "#!/bin/sh\nprintf 'bin/sh\\nusr/bin/env\\n'\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let server = dir.path().join("server");
        std::fs::write(&server, b"\x7fELF").unwrap();
        let sources = Sources { busybox: fake, testserver: server, docker_hub_names: true };
        let images = build_all(&sources).unwrap();
        let mut built: Vec<_> = images.iter().flat_map(|i| i.names.clone()).collect();
        built.sort();
        let mut named = names(true);
        named.sort();
        assert_eq!(built, named);
        assert!(built.contains(&"library/busybox:latest".to_string()));
        assert!(built.contains(&"library/nginx:1.14.2".to_string()));
        let nginx = find(&images, "library/nginx:latest").unwrap();
        assert_eq!(find(&images, "pause:3.10").unwrap().digest(), find(&images, PAUSE).unwrap().digest());
        assert!(find(&images, "library/nginx:1.161").is_none());
        assert_eq!(nginx.layers.len(), 2);
        assert_eq!(nginx.layers[1].digest, images[1].image.layers[1].digest);
        let (busybox, testserver, pause) = (&images[0].image, &images[1].image, &images[2].image);
        assert_eq!(testserver.layers[0].digest, busybox.layers[0].digest);
        assert_eq!(testserver.layers.len(), 2);
        let config = |i: &Image| serde_json::from_slice::<serde_json::Value>(&i.config.data).unwrap();
        assert_eq!(config(testserver)["config"]["Entrypoint"], serde_json::json!(["/testserver"]));
        assert_eq!(config(pause)["config"]["Entrypoint"], serde_json::json!(["/pause"]));
        assert_eq!(config(pause)["config"]["User"], "65535:65535");
        assert_eq!(config(nginx)["config"]["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(config(nginx)["config"]["Cmd"][1], "80");
        let entries = busybox_rootfs(&sources.busybox).unwrap().entries();
        let find = |p: &str| entries.iter().find(|(path, _)| path == p).map(|(_, e)| e.clone());
        assert_eq!(find("bin/sh"), Some(crate::rootfs::Entry::Symlink { target: "/bin/busybox".into() }));
        assert_eq!(
            find("usr/bin/env"),
            Some(crate::rootfs::Entry::Symlink { target: "/bin/busybox".into() })
        );
        assert_eq!(find("tmp"), Some(crate::rootfs::Entry::Dir { mode: 0o1777 }));
    }
}
