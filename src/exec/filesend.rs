//! The receiving side of BuildKit's file send (`moby.filesync.v1.FileSend/DiffCopy`): where
//! BuildKit's own `local` and `tar` exporters deliver a build's filesystem to the client.
//!
//! `local`: BuildKit is the fsutil *sender* and rbake the receiver, the reverse of the file
//! sync in [`super::filesync`]. BuildKit sends one `STAT` packet per entry (depth first,
//! sorted, a directory before its contents; entry `n` is the `n`th stat), then an empty
//! `STAT`. rbake creates each entry as it arrives ([`super::fsreceive`]) and asks for the
//! content of every regular file with a `REQ` naming its number; BuildKit answers with `DATA`
//! packets for up to four files at once, each file ending with an empty `DATA`. Once every
//! stat and every file has arrived, rbake sends `FIN`; BuildKit answers `FIN` and the solve
//! completes. `tar`: the same method carries raw tar bytes as `BytesMessage`s, written to a
//! file as they come; rbake ends its side when BuildKit ends its own.
//!
//! Both run on a blocking thread, one packet at a time, so memory holds the packets in
//! flight and a file's path per outstanding request, whatever the image's size.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bollard_buildkit_proto::fsutil::types::Packet;
use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::moby::filesync::packet::file_send_server::{
    FileSend as PacketFileSend, FileSendServer as PacketFileSendServer,
};
use bollard_buildkit_proto::moby::filesync::v1::BytesMessage;
use bollard_buildkit_proto::moby::filesync::v1::file_send_server::{
    FileSend as BytesFileSend, FileSendServer as BytesFileSendServer,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::fsreceive::DirWriter;

/// Why an export's files did not all arrive. `Clone`, because the receiver keeps the outcome
/// for the solve that waits on it; I/O causes are shared for that.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// BuildKit stopped reading what rbake sends (its solve ended or was cancelled).
    #[error("BuildKit closed the export stream")]
    Closed,
    /// BuildKit's stream ended before every entry and file had arrived.
    #[error("BuildKit ended the export early")]
    EndedEarly,
    /// The stream broke (gRPC status).
    #[error("receiving the export: {0}")]
    Stream(String),
    /// BuildKit reported its own failure in the stream.
    #[error("BuildKit failed sending the export: {0}")]
    Sender(String),
    /// An entry could not be written, or was refused (a path escaping the destination, a
    /// hard link to nothing written, a platform overwriting another's file).
    #[error("{0}")]
    Write(Arc<std::io::Error>),
    /// The tar file could not be created or written.
    #[error("cannot write {path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: Arc<std::io::Error>,
    },
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Write(Arc::new(e))
    }
}

/// Where one export's files go, and what became of them.
#[derive(Clone)]
pub struct Receiver {
    into: Arc<Destination>,
    outcome: Arc<Mutex<Option<Result<(), Error>>>>,
}

enum Destination {
    /// `local`: entries are created under this existing directory. With a platform named,
    /// other platforms were exported there before (`platform-split=false`), and an entry
    /// that is not a directory may not replace theirs.
    Dir(std::path::PathBuf, Option<String>),
    /// `tar`: the stream is written to this file, created afresh.
    File(std::path::PathBuf),
}

impl Receiver {
    /// Into the directory `path`; `shared` names the platform exported when earlier
    /// platforms were exported into the same directory (`platform-split=false`).
    pub fn dir(path: std::path::PathBuf, shared: Option<String>) -> Receiver {
        Receiver::new(Destination::Dir(path, shared))
    }

    pub fn file(path: std::path::PathBuf) -> Receiver {
        Receiver::new(Destination::File(path))
    }

    fn new(into: Destination) -> Receiver {
        Receiver {
            into: Arc::new(into),
            outcome: Arc::default(),
        }
    }

    /// The BuildKit exporter that sends to this receiver.
    pub fn exporter(&self) -> &'static str {
        match *self.into {
            Destination::Dir(..) => "local",
            Destination::File(_) => "tar",
        }
    }

    /// How the transfer ended: `None` if BuildKit never sent anything.
    pub fn outcome(&self) -> Option<Result<(), Error>> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets an earlier attempt's outcome before a retry.
    pub fn reset(&self) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn finish(&self, r: Result<(), Error>) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }
}

/// The session's `FileSend` service for one receiver. Both protocols share the method name,
/// so a session registers exactly one of them.
pub enum Service {
    Packets(PacketFileSendServer<PacketService>),
    Bytes(BytesFileSendServer<BytesService>),
}

pub fn service(r: &Receiver) -> Service {
    // BuildKit sends 32 KiB packets; the limit only guards against a broken peer.
    match *r.into {
        Destination::Dir(..) => Service::Packets(
            PacketFileSendServer::new(PacketService(r.clone())).max_decoding_message_size(16 << 20),
        ),
        Destination::File(_) => Service::Bytes(
            BytesFileSendServer::new(BytesService(r.clone())).max_decoding_message_size(16 << 20),
        ),
    }
}

pub struct PacketService(Receiver);
pub struct BytesService(Receiver);

type Outgoing<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl PacketFileSend for PacketService {
    type DiffCopyStream = Outgoing<Packet>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let Destination::Dir(root, platform) = &*self.0.into else {
            return Err(Status::unimplemented("this session receives a tar stream"));
        };
        let (root, platform) = (root.clone(), platform.clone());
        let receiver = self.0.clone();
        // Requests are tiny and must never wait: BuildKit stops reading them while its
        // senders wait for rbake to read their data, so a bounded queue could deadlock.
        let (tx, rx) = mpsc::unbounded_channel::<Result<Packet, Status>>();
        let incoming = request.into_inner();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let writer = DirWriter::new(&root, platform);
            // The outcome is recorded before BuildKit hears of it, so the solve's answer
            // never arrives before it.
            if let Err(e) = receive_dir(writer, &receiver, &rt, incoming, &tx) {
                receiver.finish(Err(e.clone()));
                let _ = tx.send(Ok(Packet {
                    r#type: PacketType::PacketErr as i32,
                    data: e.to_string().into_bytes(),
                    ..Packet::default()
                }));
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        )))
    }
}

fn send(
    tx: &mpsc::UnboundedSender<Result<Packet, Status>>,
    ty: PacketType,
    id: u32,
) -> Result<(), Error> {
    tx.send(Ok(Packet {
        r#type: ty as i32,
        id,
        ..Packet::default()
    }))
    .map_err(|_| Error::Closed)
}

/// One `local` export into `root`, to the end of BuildKit's stream.
fn receive_dir(
    mut writer: DirWriter,
    receiver: &Receiver,
    rt: &tokio::runtime::Handle,
    mut incoming: Streaming<Packet>,
    tx: &mpsc::UnboundedSender<Result<Packet, Status>>,
) -> Result<(), Error> {
    let mut next_id: u32 = 0;
    let mut stats_done = false;
    let mut fin_sent = false;
    loop {
        let p = match rt.block_on(incoming.message()) {
            Ok(Some(p)) => p,
            Ok(None) if fin_sent => return Ok(()),
            Ok(None) => return Err(Error::EndedEarly),
            // BuildKit may close the stream abruptly once it has our FIN; everything was
            // written by then.
            Err(_) if fin_sent => return Ok(()),
            Err(s) => return Err(Error::Stream(s.message().to_string())),
        };
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketStat) => match p.stat {
                None => stats_done = true,
                Some(stat) => {
                    let id = next_id;
                    next_id += 1;
                    if writer.create(id, stat)? {
                        send(tx, PacketType::PacketReq, id)?;
                    }
                }
            },
            Ok(PacketType::PacketData) => {
                writer.data(p.id, &p.data)?;
            }
            Ok(PacketType::PacketFin) => return Ok(()),
            Ok(PacketType::PacketErr) => {
                return Err(Error::Sender(String::from_utf8_lossy(&p.data).into_owned()));
            }
            _ => {}
        }
        if stats_done && !fin_sent && writer.pending() == 0 {
            // Directories get their modes and times last, once nothing more is written
            // into them, then BuildKit is told the transfer is complete.
            writer.finish()?;
            // Recorded before BuildKit can know: its solve may report the export done
            // before this thread sees BuildKit's closing `FIN`.
            receiver.finish(Ok(()));
            send(tx, PacketType::PacketFin, 0)?;
            fin_sent = true;
        }
    }
}

#[tonic::async_trait]
impl BytesFileSend for BytesService {
    type DiffCopyStream = Outgoing<BytesMessage>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let Destination::File(path) = &*self.0.into else {
            return Err(Status::unimplemented("this session receives files"));
        };
        let path = path.clone();
        let receiver = self.0.clone();
        let (tx, rx) = mpsc::channel::<Result<BytesMessage, Status>>(1);
        let incoming = request.into_inner();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let r = receive_file(&path, &rt, incoming);
            // Recorded first, so the solve's answer never arrives before it.
            receiver.finish(r.clone());
            if let Err(e) = r {
                let _ = tx.blocking_send(Err(Status::aborted(e.to_string())));
            }
            // Dropping `tx` ends rbake's side of the stream: BuildKit waits for that
            // before it reports the export done.
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// One `tar` export into a new file at `path`, to the end of BuildKit's stream.
fn receive_file(
    path: &std::path::Path,
    rt: &tokio::runtime::Handle,
    mut incoming: Streaming<BytesMessage>,
) -> Result<(), Error> {
    use std::io::Write;
    let fail = |e: std::io::Error| Error::File {
        path: path.to_path_buf(),
        source: Arc::new(e),
    };
    // Created afresh: a symlink planted at the name is removed, never followed.
    let _ = std::fs::remove_file(path);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    let mut out = std::io::BufWriter::with_capacity(256 << 10, file);
    loop {
        match rt.block_on(incoming.message()) {
            Ok(Some(m)) => out.write_all(&m.data).map_err(fail)?,
            Ok(None) => break,
            Err(s) => return Err(Error::Stream(s.message().to_string())),
        }
    }
    let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)
}
