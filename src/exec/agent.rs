//! An SSH agent in rbake's own process, for `ssh = ["ID=KEYFILE"]`: BuildKit's
//! `RUN --mount=type=ssh` talks the agent protocol (draft-miller-ssh-agent) through the
//! session, and rbake answers it from keys it read from disk. It lists the keys and signs
//! with them; it never hands a private key out (the protocol has no message for that), and
//! refuses adding, removing and locking keys. Keys are parsed from OpenSSH files (ed25519,
//! RSA, ECDSA P-256/384/521) and from PEM files (RSA in PKCS#1 or PKCS#8, ed25519 in
//! PKCS#8); an encrypted key is refused with a pointer to `ssh-agent`, which can ask for its
//! passphrase.

use std::path::Path;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use ssh_encoding::{Decode as _, Encode as _};
use ssh_key::private::{Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::{Algorithm, HashAlg, PrivateKey, Signature};

/// The most a key file may hold; OpenSSH's own largest keys are a few KiB. Compat:
/// buildx reads at most 100 KiB of a key file.
pub const MAX_KEY_FILE: u64 = 100 * 1024;

/// The longest message rbake accepts, as OpenSSH's agent (`AGENT_MAX_LEN`).
const MAX_MESSAGE: usize = 256 * 1024;

const FAILURE: u8 = 5;
const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
const RSA_SHA2_256: u32 = 2;
const RSA_SHA2_512: u32 = 4;

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is encrypted with a passphrase, which rbake does not ask for")]
    Encrypted,
    #[error("holds a {0} key, which rbake cannot sign with")]
    Unsupported(String),
    #[error("is not a private key rbake can read (OpenSSH, or PEM for RSA and ed25519): {0}")]
    Unreadable(String),
}

impl KeyError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            KeyError::Encrypted => {
                "load the key into an agent (`ssh-add KEYFILE`, which asks for the passphrase) and name the agent instead: `ID` alone uses $SSH_AUTH_SOCK"
            }
            _ => {
                "use an ed25519, RSA or ECDSA key in OpenSSH format (`ssh-keygen -t ed25519`), or load the key into an agent and name the agent instead"
            }
        }
    }
}

/// The keys of one `ssh` entry. Its `Debug` names the keys' types and fingerprints only.
pub struct Keyring {
    keys: Vec<Key>,
}

struct Key {
    /// The public key as the agent protocol sends it (its wire encoding).
    blob: Vec<u8>,
    private: PrivateKey,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|k| k.private.fingerprint(HashAlg::Sha256).to_string()),
            )
            .finish()
    }
}

/// Reads a private key from the text of a key file.
pub fn parse_key(text: &[u8]) -> Result<PrivateKey, KeyError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| KeyError::Unreadable("the file is not text".into()))?
        .trim();
    let label = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| KeyError::Unreadable("no `-----BEGIN ...-----` line".into()))?;
    let key = match label {
        "OPENSSH PRIVATE KEY" => {
            PrivateKey::from_openssh(text).map_err(|e| KeyError::Unreadable(e.to_string()))?
        }
        "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
        // Legacy PEM encryption is a header inside the block.
        _ if text.contains("Proc-Type: 4,ENCRYPTED") => return Err(KeyError::Encrypted),
        "RSA PRIVATE KEY" => rsa_key(
            rsa::RsaPrivateKey::from_pkcs1_pem(text)
                .map_err(|e| KeyError::Unreadable(e.to_string()))?,
        )?,
        "PRIVATE KEY" => {
            if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(text) {
                rsa_key(k)?
            } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
                PrivateKey::from(Ed25519Keypair::from(k))
            } else {
                return Err(KeyError::Unsupported(
                    "PKCS#8 key that is neither RSA nor ed25519".into(),
                ));
            }
        }
        "EC PRIVATE KEY" => return Err(KeyError::Unsupported("PEM ECDSA".into())),
        "DSA PRIVATE KEY" => return Err(KeyError::Unsupported("DSA".into())),
        other => {
            return Err(KeyError::Unreadable(format!(
                "a `{other}` block is not a private key"
            )));
        }
    };
    if key.is_encrypted() {
        return Err(KeyError::Encrypted);
    }
    match key.key_data() {
        KeypairData::Ed25519(_) | KeypairData::Rsa(_) | KeypairData::Ecdsa(_) => Ok(key),
        _ => Err(KeyError::Unsupported(key.algorithm().to_string())),
    }
}

fn rsa_key(k: rsa::RsaPrivateKey) -> Result<PrivateKey, KeyError> {
    RsaKeypair::try_from(k)
        .map(PrivateKey::from)
        .map_err(|e| KeyError::Unreadable(e.to_string()))
}

impl Keyring {
    /// Reads every key file; the first that cannot be used fails the whole entry, as in
    /// buildx.
    pub fn load(files: &[std::path::PathBuf]) -> Result<Keyring, (std::path::PathBuf, KeyError)> {
        let mut keys = Vec::new();
        for f in files {
            let text = read_key_file(f).map_err(|e| (f.clone(), e))?;
            let private = parse_key(&text).map_err(|e| (f.clone(), e))?;
            keys.push(Key::new(private).map_err(|e| (f.clone(), e))?);
        }
        Ok(Keyring { keys })
    }

    pub fn from_keys(keys: Vec<PrivateKey>) -> Result<Keyring, KeyError> {
        Ok(Keyring {
            keys: keys.into_iter().map(Key::new).collect::<Result<_, _>>()?,
        })
    }

    /// The answer to one request (the message body, without its length).
    pub fn answer(&self, request: &[u8]) -> Vec<u8> {
        match request.split_first() {
            Some((&REQUEST_IDENTITIES, _)) => self.identities(),
            Some((&SIGN_REQUEST, mut body)) => {
                self.sign(&mut body).unwrap_or_else(|| vec![FAILURE])
            }
            // Adding, removing, locking, extensions: not offered.
            _ => vec![FAILURE],
        }
    }

    fn identities(&self) -> Vec<u8> {
        let mut out = vec![IDENTITIES_ANSWER];
        out.extend_from_slice(&(self.keys.len() as u32).to_be_bytes());
        for k in &self.keys {
            put_string(&mut out, &k.blob);
            put_string(&mut out, k.private.comment().as_bytes());
        }
        out
    }

    fn sign(&self, body: &mut &[u8]) -> Option<Vec<u8>> {
        let blob = Vec::<u8>::decode(body).ok()?;
        let data = Vec::<u8>::decode(body).ok()?;
        let flags = u32::decode(body).ok()?;
        let key = self.keys.iter().find(|k| k.blob == blob)?;
        let signature = match key.private.key_data() {
            KeypairData::Rsa(rsa) => {
                let hash = if flags & RSA_SHA2_512 != 0 {
                    HashAlg::Sha512
                } else if flags & RSA_SHA2_256 != 0 {
                    HashAlg::Sha256
                } else {
                    // SHA-1 `ssh-rsa` signatures: refused, as OpenSSH servers refuse them.
                    return None;
                };
                rsa_sign(rsa, hash, &data)?
            }
            _ => rsa::signature::Signer::try_sign(&key.private, &data).ok()?,
        };
        let mut sig = Vec::new();
        signature.encode(&mut sig).ok()?;
        let mut out = vec![SIGN_RESPONSE];
        put_string(&mut out, &sig);
        Some(out)
    }
}

impl Key {
    fn new(private: PrivateKey) -> Result<Key, KeyError> {
        let blob = private
            .public_key()
            .to_bytes()
            .map_err(|e| KeyError::Unreadable(e.to_string()))?;
        Ok(Key { blob, private })
    }
}

fn rsa_sign(key: &RsaKeypair, hash: HashAlg, data: &[u8]) -> Option<Signature> {
    use rsa::signature::{SignatureEncoding, Signer};
    let private = rsa_private(key)?;
    let bytes = match hash {
        HashAlg::Sha256 => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private)
            .try_sign(data)
            .ok()?
            .to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(private)
            .try_sign(data)
            .ok()?
            .to_vec(),
    };
    Signature::new(Algorithm::Rsa { hash: Some(hash) }, bytes).ok()
}

/// The `rsa` crate's key from an OpenSSH RSA keypair. Not ssh-key 0.6.7's own conversion,
/// which passes the first prime twice and so yields a key that cannot sign.
fn rsa_private(key: &RsaKeypair) -> Option<rsa::RsaPrivateKey> {
    let big = |m: &ssh_key::Mpint| m.as_positive_bytes().map(rsa::BigUint::from_bytes_be);
    let mut k = rsa::RsaPrivateKey::from_components(
        big(&key.public.n)?,
        big(&key.public.e)?,
        big(&key.private.d)?,
        vec![big(&key.private.p)?, big(&key.private.q)?],
    )
    .ok()?;
    k.precompute().ok()?;
    Some(k)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Reads a key file: a regular file of at most [`MAX_KEY_FILE`] bytes.
fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    super::paths::read_regular(path, MAX_KEY_FILE)
        .map_err(|e| KeyError::Unreadable(format!("cannot read it: {e}")))
}

/// Splits a byte stream into agent messages: feed what arrives, take whole messages out.
#[derive(Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message's body, `Ok(None)` while it is incomplete, or an error for a
    /// message longer than any agent accepts (the stream is then closed).
    pub fn take(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(len) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > MAX_MESSAGE {
            return Err(format!("an agent message of {len} bytes"));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let body = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(body))
    }
}

/// A reply framed for the wire.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    put_string(&mut out, body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::PublicKey;

    fn ed25519() -> PrivateKey {
        let mut k = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        k.set_comment("test key");
        k
    }

    fn ask(ring: &Keyring, body: &[u8]) -> Vec<u8> {
        // Through the framer, split mid-message, as a stream may deliver it.
        let mut f = Framer::default();
        let wire = frame(body);
        f.push(&wire[..3]);
        assert_eq!(f.take().unwrap(), None);
        f.push(&wire[3..]);
        let msg = f.take().unwrap().expect("a whole message");
        ring.answer(&msg)
    }

    fn sign_request(blob: &[u8], data: &[u8], flags: u32) -> Vec<u8> {
        let mut req = vec![SIGN_REQUEST];
        put_string(&mut req, blob);
        put_string(&mut req, data);
        req.extend_from_slice(&flags.to_be_bytes());
        req
    }

    fn signature_of(reply: &[u8]) -> Signature {
        assert_eq!(reply[0], SIGN_RESPONSE, "{reply:?}");
        let mut body = &reply[1..];
        let sig = Vec::<u8>::decode(&mut body).unwrap();
        Signature::decode(&mut sig.as_slice()).unwrap()
    }

    #[test]
    fn lists_its_keys_and_signs_what_the_public_key_verifies() {
        let key = ed25519();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        let ring = Keyring::from_keys(vec![parse_key(text.as_bytes()).unwrap()]).unwrap();
        let reply = ask(&ring, &[REQUEST_IDENTITIES]);
        assert_eq!(reply[0], IDENTITIES_ANSWER);
        assert_eq!(&reply[1..5], &1u32.to_be_bytes());
        let mut body = &reply[5..];
        let blob = Vec::<u8>::decode(&mut body).unwrap();
        let comment = String::decode(&mut body).unwrap();
        assert_eq!(comment, "test key");
        let public = PublicKey::from_bytes(&blob).unwrap();
        assert_eq!(public.key_data(), key.public_key().key_data());

        let sig = signature_of(&ask(&ring, &sign_request(&blob, b"session data", 0)));
        rsa::signature::Verifier::verify(&public, b"session data", &sig).unwrap();
        assert!(rsa::signature::Verifier::verify(&public, b"other data", &sig).is_err());
    }

    #[test]
    fn refuses_unknown_keys_and_every_other_request() {
        let ring = Keyring::from_keys(vec![ed25519()]).unwrap();
        let other = PrivateKey::from(Ed25519Keypair::from_seed(&[8; 32]));
        let blob = other.public_key().to_bytes().unwrap();
        assert_eq!(ask(&ring, &sign_request(&blob, b"x", 0)), vec![FAILURE]);
        // Truncated sign request, add identity (17), remove all (19), extension (27), empty.
        assert_eq!(ask(&ring, &[SIGN_REQUEST, 0, 0]), vec![FAILURE]);
        for t in [17u8, 19, 27] {
            assert_eq!(ask(&ring, &[t, 0, 0, 0, 0]), vec![FAILURE]);
        }
        assert_eq!(ring.answer(&[]), vec![FAILURE]);
        let mut f = Framer::default();
        f.push(&u32::MAX.to_be_bytes());
        assert!(f.take().is_err());
    }

    #[test]
    fn rsa_from_pem_signs_with_the_hash_asked_for() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let mut rng = ssh_key::rand_core::OsRng;
        let k = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = k.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let key = parse_key(pem.as_bytes()).unwrap();
        let ring = Keyring::from_keys(vec![key.clone()]).unwrap();
        let blob = key.public_key().to_bytes().unwrap();
        for (flag, hash) in [
            (RSA_SHA2_256, HashAlg::Sha256),
            (RSA_SHA2_512, HashAlg::Sha512),
        ] {
            let sig = signature_of(&ask(&ring, &sign_request(&blob, b"data", flag)));
            assert_eq!(sig.algorithm(), Algorithm::Rsa { hash: Some(hash) });
            rsa::signature::Verifier::verify(key.public_key(), b"data", &sig).unwrap();
        }
        // SHA-1 is refused.
        assert_eq!(ask(&ring, &sign_request(&blob, b"data", 0)), vec![FAILURE]);
    }

    #[test]
    fn encrypted_and_foreign_files_are_named_for_what_they_are() {
        // `ssh-keygen -t ed25519 -N not-a-secret`: a throwaway key made for this test.
        let encrypted = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABC4AnpDJU
/XhkTE/dId+fgkAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAII+iuNtxbdAUlGDi
iCysSS61qQbP/uXmX/MXGvrjDjtyAAAAoA2V2B86Nw3F9PJ8McdDx98wCwSClqnwTxs7b9
wEeoPwArsugoiPpOTJ3IwB8ajFLvSOQQxOC5bvzp5/22fcmJdts6dYK5J00CSthWXadtNn
K/EmYT+klbvCTDT+c2n6pcnLYr75KcgXyy+10aTGyvx0IGQmX3Pa9PF0wiAhvy2Wkz+AoT
sMx/rObaQSbnfmbIQ0FH5Gikd/jMiToYP0lI8=
-----END OPENSSH PRIVATE KEY-----
";
        assert_eq!(
            parse_key(encrypted.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            parse_key(legacy.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let public = ed25519().public_key().to_openssh().unwrap();
        assert!(matches!(
            parse_key(public.as_bytes()),
            Err(KeyError::Unreadable(_))
        ));
        assert!(matches!(
            parse_key(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
            Err(KeyError::Unreadable(_))
        ));
    }

    #[test]
    fn debug_shows_fingerprints_only() {
        let ring = Keyring::from_keys(vec![ed25519()]).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.starts_with("[\"SHA256:"), "{shown}");
    }
}
