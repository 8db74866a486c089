//! Pushes the test images to a real registry (Debian's docker-registry) and reads them back
//! over the distribution API.

use std::io::Read;

use tug_oci::{
    Digest, Image, Registry,
    image::{MANIFEST_MEDIA_TYPE, Manifest},
    testimages::{self, Sources},
    testing::LocalRegistry,
};

/// Reads one image back by `repository:tag` and checks every digest and size against the
/// bytes the registry serves, and the config's diff_ids against the unpacked layers.
async fn check_served(registry: &Registry, name: &str, expected: &Image) -> Vec<Vec<u8>> {
    let (repository, tag) = testimages::split_name(name).unwrap();
    let (media_type, manifest_bytes) = registry.manifest(repository, tag).await.unwrap();
    assert_eq!(media_type, MANIFEST_MEDIA_TYPE, "{name}");
    assert_eq!(&Digest::of(&manifest_bytes), expected.digest(), "{name}: manifest digest");
    let by_digest = registry.manifest(repository, &expected.digest().to_string()).await.unwrap().1;
    assert_eq!(by_digest, manifest_bytes);

    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).unwrap();
    let config = registry.blob(repository, &manifest.config.digest).await.unwrap();
    assert_eq!(Digest::of(&config), manifest.config.digest);
    assert_eq!(config.len() as u64, manifest.config.size);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();

    let mut unpacked = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        let data = registry.blob(repository, &layer.digest).await.unwrap();
        assert_eq!(Digest::of(&data), layer.digest, "{name}: layer {i}");
        assert_eq!(data.len() as u64, layer.size);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut tar).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][i], Digest::of(&tar).to_string(), "{name}: diff_id {i}");
        unpacked.push(tar);
    }
    unpacked
}

fn file_in(tar: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(path) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            return Some(data);
        }
    }
    None
}

#[tokio::test]
async fn test_images_are_pushed_and_served_back_intact() {
    let local = LocalRegistry::start().await.expect("registry starts (run scripts/setup.sh)");
    let sources = Sources { docker_hub_names: true, ..Sources::local().expect("test server builds") };
    let images = testimages::build_all(&sources).unwrap();
    let pushed = testimages::push_all(&local.host(), &images).await.unwrap();
    assert_eq!(pushed.len(), testimages::names(true).len(), "{pushed:?}");
    assert!(pushed.contains(&local.image(testimages::BUSYBOX)));
    assert!(pushed.contains(&local.image("library/busybox:latest")));

    let registry = local.client();
    for image in &images {
        for name in &image.names {
            check_served(&registry, name, &image.image).await;
        }
    }

    let busybox_image = testimages::find(&images, testimages::BUSYBOX).unwrap();
    let server_image = testimages::find(&images, testimages::TESTSERVER).unwrap();
    let busybox = check_served(&registry, testimages::BUSYBOX, busybox_image).await;
    let host_busybox = std::fs::read(&sources.busybox).unwrap();
    assert_eq!(file_in(&busybox[0], "bin/busybox").as_deref(), Some(&host_busybox[..]));
    let server = check_served(&registry, testimages::TESTSERVER, server_image).await;
    let host_server = std::fs::read(&sources.testserver).unwrap();
    assert_eq!(file_in(&server[1], "testserver").as_deref(), Some(&host_server[..]));

    // Blobs are now present, so a second push uploads nothing and keeps the same manifest.
    let config = &server_image.config;
    assert!(registry.blob_exists("tugboat/testserver", &config.digest).await.unwrap());
    assert!(!registry.upload_blob("tugboat/testserver", config).await.unwrap());
    testimages::push_all(&local.host(), &images).await.unwrap();
    check_served(&registry, testimages::TESTSERVER, server_image).await;
}

#[tokio::test]
async fn missing_images_and_blobs_are_registry_errors() {
    let local = LocalRegistry::start().await.expect("registry starts (run scripts/setup.sh)");
    let registry = local.client();
    let err = registry.manifest("tugboat/none", "latest").await.unwrap_err();
    assert!(matches!(err, tug_oci::Error::Registry { status: 404, .. }), "{err}");
    assert!(!registry.blob_exists("tugboat/none", &Digest::of(b"x")).await.unwrap());
    // A manifest whose blobs were never uploaded is refused.
    let image = testimages::build_all(&Sources {
        busybox: testimages::busybox_binary(),
        testserver: testimages::busybox_binary(),
        docker_hub_names: false,
    })
    .unwrap()
    .remove(0)
    .image;
    let err = registry
        .put_manifest("tugboat/none", "latest", MANIFEST_MEDIA_TYPE, image.manifest.data.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, tug_oci::Error::Registry { status: 400, .. }), "{err}");
}

#[tokio::test]
async fn tug_testimages_pushes_every_named_image() {
    let local = LocalRegistry::start().await.expect("registry starts (run scripts/setup.sh)");
    let testserver = testimages::build_testserver().expect("test server builds");
    let host = local.host();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tug-testimages"))
        .args(["push", "--docker-hub-names", "--registry", &host, "--testserver"])
        .arg(&testserver)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut printed: Vec<String> =
        String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect();
    let mut expected: Vec<String> = testimages::names(true).iter().map(|n| local.image(n)).collect();
    printed.sort();
    expected.sort();
    assert_eq!(printed, expected);
    let registry = local.client();
    for name in testimages::names(true) {
        let (repository, tag) = testimages::split_name(name).unwrap();
        registry.manifest(repository, tag).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
