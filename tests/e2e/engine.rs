//! The two engines of the test stack, reached through their REST APIs on their unix sockets
//! (the same data `docker image inspect`, `docker history --no-trunc` and `docker save`
//! show, without depending on which `docker` client is on PATH).

use serde_json::Value;

use super::http::{self, Addr, Response};
use super::image::{self, ImageContent};

/// One engine of the stack (`scripts/stack.sh`).
#[derive(Clone, Debug)]
pub struct Engine {
    /// Short name, also the builder's name in the generated `build.hcl`: `docker20`, `docker26`.
    pub name: &'static str,
    /// Human-readable, for messages.
    pub label: &'static str,
    /// `unix:///...`, as a builder's `endpoint` takes it.
    pub host: String,
    /// The platforms the generated builder declares.
    pub platforms: &'static [&'static str],
}

/// The three platforms the base images exist for.
pub const ALL_PLATFORMS: &[&str] = &["linux/amd64", "linux/arm64", "linux/arm/v7"];

impl Engine {
    /// Docker 20.10 (BuildKit 0.8, classic image store): `$RBAKE_DOCKER20_HOST`, else
    /// `unix:///var/run/docker.sock`.
    pub fn docker20() -> Engine {
        Engine {
            name: "docker20",
            label: "Docker 20.10 (BuildKit 0.8, classic store)",
            host: std::env::var("RBAKE_DOCKER20_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
            platforms: ALL_PLATFORMS,
        }
    }

    /// Docker 26 (BuildKit 0.13, containerd image store): `$RBAKE_DOCKER26_HOST`, else
    /// `unix:///run/rbake-m/docker.sock`.
    pub fn docker26() -> Engine {
        Engine {
            name: "docker26",
            label: "Docker 26 (BuildKit 0.13, containerd store)",
            host: std::env::var("RBAKE_DOCKER26_HOST")
                .unwrap_or_else(|_| "unix:///run/rbake-m/docker.sock".into()),
            platforms: ALL_PLATFORMS,
        }
    }

    /// Both engines, 20.10 first.
    pub fn all() -> Vec<Engine> {
        vec![Engine::docker20(), Engine::docker26()]
    }

    /// A request to the engine's API; `Err` when the socket does not answer.
    pub fn call(&self, method: &str, path: &str) -> Result<Response, String> {
        http::request(&Addr::parse(&self.host), method, path, &[], None)
            .map_err(|e| format!("{method} {} {path}: {e}", self.host))
    }

    fn get_ok(&self, path: &str) -> Response {
        let r = self.call("GET", path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.status,
            200,
            "{}: GET {path} answered {}: {}",
            self.label,
            r.status,
            r.text()
        );
        r
    }

    /// `GET /_ping` answers `OK`.
    pub fn ping(&self) -> Result<(), String> {
        let r = self.call("GET", "/_ping")?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{} /_ping answered {}", self.host, r.status))
        }
    }

    /// `GET /info`.
    pub fn info(&self) -> Value {
        self.get_ok("/info").json()
    }

    /// Whether the engine uses the containerd image store (it holds multi-platform images).
    pub fn containerd_store(&self) -> bool {
        self.info()["DriverStatus"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|kv| {
                kv[0] == "driver-type"
                    && kv[1]
                        .as_str()
                        .is_some_and(|v| v.contains("containerd.snapshotter"))
            })
    }

    /// `docker image inspect REF`: `None` when the engine has no such image.
    pub fn inspect(&self, reference: &str) -> Option<Value> {
        let r = self
            .call("GET", &format!("/images/{reference}/json"))
            .unwrap_or_else(|e| panic!("{e}"));
        match r.status {
            200 => Some(r.json()),
            404 => None,
            s => panic!(
                "{}: inspecting {reference} answered {s}: {}",
                self.label,
                r.text()
            ),
        }
    }

    /// `docker image inspect REF`, which must succeed.
    pub fn must_inspect(&self, reference: &str) -> Value {
        self.inspect(reference).unwrap_or_else(|| {
            panic!(
                "{}: there is no image {reference} (`docker -H {} image inspect {reference}` fails)",
                self.label, self.host
            )
        })
    }

    /// `docker history --no-trunc REF` as the API gives it (each layer's `CreatedBy` in full).
    ///
    /// Docker 26's containerd store cannot show the history of an image it has not unpacked
    /// ("snapshot ... does not exist"), which is the case for a foreign-platform image fresh
    /// from BuildKit (with `docker build` as much as with rbake); creating (never starting) a
    /// container unpacks it, as `docker run` would.
    pub fn history(&self, reference: &str) -> Value {
        let path = format!("/images/{reference}/history");
        let r = self.call("GET", &path).unwrap_or_else(|e| panic!("{e}"));
        if r.status == 404 && r.text().contains("snapshot") {
            self.unpack(reference);
        } else {
            assert_eq!(
                r.status,
                200,
                "{}: GET {path} answered {}: {}",
                self.label,
                r.status,
                r.text()
            );
            return r.json();
        }
        self.get_ok(&path).json()
    }

    /// Makes the engine unpack an image by creating a container from it (then removing it).
    pub fn unpack(&self, reference: &str) {
        let inspect = self.must_inspect(reference);
        let s = |k: &str| inspect[k].as_str().unwrap_or_default().to_string();
        let platform = image::platform_of(&s("Os"), &s("Architecture"), Some(&s("Variant")));
        let body = serde_json::json!({
            "Image": reference,
            "Cmd": ["/bin/true"],
            "NetworkDisabled": true,
            "HostConfig": { "NetworkMode": "none" },
        })
        .to_string();
        let r = http::request(
            &Addr::parse(&self.host),
            "POST",
            &format!(
                "/containers/create?platform={}",
                platform.replace('/', "%2F")
            ),
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{}: creating a container from {reference}: {e}", self.label));
        assert_eq!(
            r.status,
            201,
            "{}: creating a container from {reference} answered {}: {}",
            self.label,
            r.status,
            r.text()
        );
        let id = r.json()["Id"].as_str().expect("container id").to_string();
        let _ = self.call("DELETE", &format!("/containers/{id}?force=1"));
    }

    /// `docker save REF` as a tarball.
    pub fn save(&self, reference: &str) -> Vec<u8> {
        self.get_ok(&format!("/images/{reference}/get")).body
    }

    /// Every platform's image that `docker save REF` gives (one on a classic store; each
    /// platform held locally for a multi-platform image on a containerd store).
    pub fn images(&self, reference: &str) -> Vec<ImageContent> {
        image::from_save_tar(&self.save(reference))
    }

    /// The one image `docker save REF` gives; panics unless there is exactly one.
    pub fn image(&self, reference: &str) -> ImageContent {
        let mut all = self.images(reference);
        assert_eq!(
            all.len(),
            1,
            "{}: `docker save {reference}` holds {} images, expected one: {:?}",
            self.label,
            all.len(),
            all.iter().map(|i| &i.platform).collect::<Vec<_>>()
        );
        all.remove(0)
    }

    /// Best-effort `docker rmi REF` (an untag when other tags share the image).
    pub fn remove(&self, reference: &str) {
        let _ = self.call("DELETE", &format!("/images/{reference}"));
    }
}
