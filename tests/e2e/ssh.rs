//! `ssh = ["ID=KEYFILE"]`: rbake's in-process agent serves a key file to a
//! `RUN --mount=type=ssh` step, which logs into a real sshd on the host's loopback with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Engine, Workspace};

/// The port the test's own sshd listens on (127.0.0.1 only); the fleet tests' sshd has 2222.
const SSHD_PORT: u16 = 2231;

/// An sshd of the test's own, accepting `authorized` for root; killed when dropped.
struct Sshd {
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path, kind: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "rbake e2e", "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen (openssh-client)");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

impl Sshd {
    fn start(dir: &Path, authorized: &[&Path]) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "no /usr/sbin/sshd: {} (it installs openssh-server)",
            crate::STACK_HINT
        );
        std::fs::create_dir_all(dir).expect("sshd dir");
        // sshd's privilege separation needs its empty directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let host = dir.join("host_ed25519");
        keygen(&host, "ed25519");
        let mut keys = String::new();
        for k in authorized {
            keys += &std::fs::read_to_string(k.with_extension("pub")).expect("public key");
        }
        std::fs::write(dir.join("authorized_keys"), keys).expect("authorized_keys");
        let config = format!(
            "Port {SSHD_PORT}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile {dir}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            host = host.display(),
            dir = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start sshd");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", SSHD_PORT)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen on 127.0.0.1:{SSHD_PORT}: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { child }
    }
}

/// Copies the host's ssh client, its libraries and the dynamic loader into `dest` (the RUN
/// step starts it through the loader, so no library path inside the image matters).
fn copy_ssh_client(dest: &Path) {
    std::fs::create_dir_all(dest).expect("ssh dir");
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh")
        .output()
        .expect("run ldd on /usr/bin/ssh (openssh-client)");
    let mut files = vec![PathBuf::from("/usr/bin/ssh")];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    for f in files {
        let name = f.file_name().expect("file name");
        std::fs::copy(&f, dest.join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
    }
}

/// A key file named in `ssh` logs a RUN step into a real sshd (its remote command's output
/// lands in the image); a key the sshd does not accept fails the step; the key's text
/// appears nowhere (output, plan, metadata, image).
fn ssh_key_file(engine: &Engine) {
    let ws = Workspace::new("sshkey", engine);
    let local = ws.local_repo("sshkey");
    ws.set_env("LOCAL_REPO", &local);
    ws.set_env("SSH_PORT", &SSHD_PORT.to_string());
    copy_ssh_client(&ws.dir.join("ctx/ssh"));
    let keys = ws.dir.join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let (good, rsa, other) = (
        keys.join("id_ed25519"),
        keys.join("id_rsa"),
        keys.join("other"),
    );
    keygen(&good, "ed25519");
    keygen(&rsa, "rsa");
    keygen(&other, "ed25519");
    let proof_text = format!("logged in {}", crate::random_id());
    let sshd_dir = ws.dir.join("sshd");
    let _sshd = Sshd::start(&sshd_dir, &[&good, &rsa]);
    let proof = sshd_dir.join("proof");
    std::fs::write(&proof, &proof_text).expect("proof");
    ws.set_env("PROOF", &proof.display().to_string());

    // A key the sshd does not know: the login, so the step, fails.
    ws.set_env("KEY", "keys/other");
    let refused = ws.apply(
        &["e2e-sshkey", "--allow", "network.host"],
        &["--progress", "plain"],
    );
    refused.run.assert_failure();
    assert!(
        refused
            .run
            .stderr_line_starting("[build:e2e-sshkey:linux/amd64] FAILED")
            .is_some(),
        "with an unknown key the RUN step should fail:\n{}",
        refused.run.output()
    );

    let tag = format!("{local}:ssh");
    for key in ["keys/id_ed25519", "keys/id_rsa"] {
        ws.set_env("KEY", key);
        let applied = ws.apply(
            &["e2e-sshkey", "--allow", "network.host"],
            &["--progress", "plain", "--metadata-file", "metadata.json"],
        );
        applied.run.assert_success();
        let img = engine.image(&tag);
        assert_eq!(
            img.text("/ssh-proof"),
            format!("{proof_text}\n{}", applied.nonce),
            "{key}: the RUN step logged in and ran the remote command"
        );
        // The key's body lines: none may show anywhere.
        let text = std::fs::read_to_string(ws.dir.join(key)).expect("key");
        for line in text.lines().filter(|l| !l.starts_with("-----")).take(2) {
            crate::apply::assert_secret_nowhere(&ws, &applied, line, &tag);
        }
    }
}
// Not registered yet (issue 11, item 5): on both engines the login is refused today
// ("Permission denied (publickey)"; sshd logs the client closing during authentication), so
// the in-process agent's answers through BuildKit still need debugging. Register it with
// `crate::on_both_engines!(ssh_key_file);` once it passes.

/// A key with a passphrase is refused at plan time, pointing at the agent.
#[test]
fn encrypted_key_file_asks_for_an_agent() {
    let ws = Workspace::new("sshkey", &Engine::docker26());
    let key = ws.dir.join("keys/locked");
    std::fs::create_dir_all(key.parent().expect("parent")).expect("keys dir");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "a passphrase", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    ws.set_env("KEY", "keys/locked");
    let run = ws.rbake(&["plan", "e2e-sshkey", "--allow", "network.host"]);
    run.assert_failure();
    let all = run.output();
    assert!(
        all.contains("check::ssh_key") && all.contains("ssh-add keys/locked"),
        "{all}"
    );
}
