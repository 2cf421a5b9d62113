//! A driver handle against the driver's real channel (`python/epoxy_driver/channel.py`), served
//! by a small Python process instead of Spark: what one handle does when another controller
//! takes the driver over (epoch fencing), and a driver adopted from a record of another host
//! (over TCP, no `/proc`), without a JVM. Needs `python3` (standard library only).

use epoxy::runtime::driver::{
    AdoptError, DriverCommand, DriverEvent, DriverHandle, ProcessId, this_host,
};
use epoxy::store::DriverRecord;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The channel with a stand-in for the Spark part: `run` answers with the code as its text,
/// `shutdown` exits. Prints its TCP port.
const PEER: &str = r#"
import os, sys, threading
from epoxy_driver.channel import Channel

done = threading.Event()

def on_command(msg):
    if msg.get("op") == "run":
        channel.send("result", id=msg["id"], status="ok", text=msg["code"])
    elif msg.get("op") == "shutdown":
        done.set()

channel = Channel(os.environ["EPOXY_DRIVER_SOCKET"], os.environ["EPOXY_DRIVER_SECRET"],
                  on_command, lambda: None, "127.0.0.1")
print(channel.tcp_port, flush=True)
channel.send("ready", spark_version="stand-in")
done.wait(120)
"#;

struct Peer {
    child: Child,
    record: DriverRecord,
    dir: tempfile::TempDir,
}

impl Peer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        let secret = "5e".repeat(32);
        let python_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
        let child = Command::new("python3")
            .args(["-c", PEER])
            .env("PYTHONPATH", python_dir)
            .env("EPOXY_DRIVER_SOCKET", &socket)
            .env("EPOXY_DRIVER_SECRET", &secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("python3 runs");
        // Printed once both listeners are bound.
        let mut child = child;
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let port: u16 = port.trim().parse().expect("the peer's TCP port");
        let process = ProcessId::of(child.id()).expect("the peer runs");
        let record = DriverRecord {
            pid: process.pid,
            start_ticks: process.start_ticks,
            socket,
            secret,
            token: uuid::Uuid::new_v4().simple().to_string(),
            spark_ui_port: None,
            metastore_user: None,
            tcp: Some(format!("127.0.0.1:{port}")),
            host: this_host().to_string(),
        };
        Self { child, record, dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("driver.log")
    }

    fn alive(&self) -> bool {
        ProcessId {
            pid: self.record.pid,
            start_ticks: self.record.start_ticks,
        }
        .alive()
    }

    async fn adopt(&self, epoch: u64) -> Result<DriverHandle, AdoptError> {
        Self::adopt_record(&self.record, self.log(), epoch).await
    }

    /// The record as a node on another host sees it: its pid, start time and socket are
    /// another machine's (here: wrong on purpose, so that using them would fail).
    fn remote_record(&self) -> DriverRecord {
        DriverRecord {
            start_ticks: self.record.start_ticks + 1,
            socket: "/nonexistent/d.sock".into(),
            host: "another-machine/another-node".into(),
            ..self.record.clone()
        }
    }

    async fn adopt_remote(&self, epoch: u64) -> Result<DriverHandle, AdoptError> {
        Self::adopt_record(&self.remote_record(), self.log(), epoch).await
    }

    async fn adopt_record(
        record: &DriverRecord,
        log: PathBuf,
        epoch: u64,
    ) -> Result<DriverHandle, AdoptError> {
        DriverHandle::adopt(record, log, None, epoch)
            .await
            .map(|(handle, _)| handle)
    }

    /// Waits up to `limit` for the process to exit by itself (yielding to the runtime).
    async fn exits_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of statement `id`, skipping replayed events.
async fn result_of(handle: &mut DriverHandle, id: i64) -> String {
    let wait = async {
        loop {
            match handle.next_event().await {
                DriverEvent::Result { id: got, text, .. } if got == id => return text,
                DriverEvent::Exited { reason } => panic!("the driver exited: {reason}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("a result")
}

async fn run(handle: &mut DriverHandle, id: i64, code: &str) -> String {
    handle.send(&DriverCommand::Run { id, code }).await.unwrap();
    result_of(handle, id).await
}

/// `Exited`'s reason, within a few seconds (events replayed to the handle before are skipped).
async fn exited(handle: &mut DriverHandle) -> String {
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let DriverEvent::Exited { reason } = handle.next_event().await {
                return reason;
            }
        }
    });
    event.await.expect("Exited within 20 s")
}

#[tokio::test]
async fn a_higher_epoch_supersedes_a_handle_and_the_driver_lives_on() {
    let peer = Peer::start();
    let mut old = peer.adopt(1).await.expect("attached at epoch 1");
    assert_eq!(run(&mut old, 1, "first").await, "first");

    let mut new = peer.adopt(2).await.expect("attached at epoch 2");
    // The driver closed the old controller's connection; its re-attach at epoch 1 is refused.
    let reason = exited(&mut old).await;
    assert!(old.superseded(), "not superseded: {reason}");
    assert!(reason.contains("another epoxy node"), "{reason}");
    assert!(!old.is_alive());
    // Exited forever after, and the superseded handle neither stops nor kills the driver.
    assert!(exited(&mut old).await.contains("epoch 2"));
    old.shutdown(Duration::from_millis(200)).await;
    assert!(
        peer.alive(),
        "a superseded handle's shutdown stopped the driver"
    );
    let mut owner = peer.adopt(3).await.expect("attached at epoch 3");
    let _ = exited(&mut new).await;
    assert!(new.superseded());
    drop(new);
    assert!(
        peer.alive(),
        "dropping a superseded handle killed the driver"
    );

    // A lower epoch is refused at adoption too, and nothing is killed.
    match peer.adopt(1).await {
        Err(AdoptError::Superseded { epoch: 3 }) => {}
        Err(e) => panic!("expected superseded, got {e}"),
        Ok(_) => panic!("epoch 1 was let in after epoch 3"),
    }
    assert!(peer.alive());
    assert_eq!(run(&mut owner, 2, "still served").await, "still served");

    // set_epoch raises the epoch the next handshake carries (a lower one changes nothing):
    // after a takeover at 4, the handle at 5 re-attaches, is replayed what the other did not
    // acknowledge, and the other is superseded.
    owner.set_epoch(5);
    owner.set_epoch(4);
    assert_eq!(owner.epoch(), 5);
    let mut other = peer.adopt(4).await.expect("4 > 3");
    assert_eq!(run(&mut other, 3, "while taken").await, "while taken");
    assert_eq!(result_of(&mut owner, 3).await, "while taken");
    assert!(!owner.superseded());
    let _ = exited(&mut other).await;
    assert!(other.superseded());

    owner.shutdown(Duration::from_secs(10)).await;
    assert!(
        !peer.alive(),
        "the owner's shutdown did not stop the driver"
    );
}

#[tokio::test]
async fn a_dead_driver_is_gone_not_superseded() {
    let mut peer = Peer::start();
    let mut handle = peer.adopt(0).await.expect("attached");
    peer.child.kill().unwrap();
    peer.child.wait().unwrap();
    let _ = exited(&mut handle).await;
    assert!(!handle.superseded());
    assert!(matches!(peer.adopt(0).await, Err(AdoptError::Gone(_))));
}

#[tokio::test]
async fn a_driver_of_another_host_is_adopted_over_tcp() {
    let mut peer = Peer::start();
    let mut local = peer
        .adopt(1)
        .await
        .expect("the local node attaches by socket");
    assert!(!local.is_remote());
    assert_eq!(local.record().host, this_host());

    // Another node adopts it: over TCP, though the record's socket and start time are wrong.
    let with_ui = DriverRecord {
        spark_ui_port: Some(4040),
        ..peer.remote_record()
    };
    let mut remote = Peer::adopt_record(&with_ui, peer.log(), 2)
        .await
        .expect("adopted over TCP");
    assert!(remote.is_remote());
    assert_eq!(remote.spark_ui_port(), None, "another host's loopback port");
    assert_eq!(remote.record().spark_ui_port, Some(4040));
    assert_eq!(remote.record().host, "another-machine/another-node");
    assert_eq!(remote.record().tcp, peer.record.tcp);
    assert!(
        remote.is_alive(),
        "a remote driver lives while its channel does"
    );
    assert_eq!(run(&mut remote, 1, "over tcp").await, "over tcp");
    let _ = exited(&mut local).await;
    assert!(
        local.superseded(),
        "the local handle was superseded, not lost"
    );
    drop(local);
    assert!(peer.alive());

    // A wrong secret over TCP is refused (and the remote path kills nothing).
    let forged = DriverRecord {
        secret: "00".repeat(32),
        ..peer.remote_record()
    };
    match Peer::adopt_record(&forged, peer.log(), 9).await {
        Err(AdoptError::Gone(why)) => assert!(why.contains("does not answer"), "{why}"),
        Err(e) => panic!("expected gone, got {e}"),
        Ok(_) => panic!("a wrong secret was welcomed over TCP"),
    }
    assert!(peer.alive());
    assert_eq!(run(&mut remote, 2, "still mine").await, "still mine");

    // Stopping a remote driver is the Shutdown command only; it exits by itself.
    remote.shutdown(Duration::from_secs(10)).await;
    assert!(
        peer.exits_within(Duration::from_secs(10)).await,
        "the remote driver did not exit"
    );
}

#[tokio::test]
async fn a_remote_driver_that_vanishes_is_gone_and_dropping_one_asks_it_to_stop() {
    let mut peer = Peer::start();
    let mut remote = peer.adopt_remote(0).await.expect("adopted over TCP");
    peer.child.kill().unwrap();
    peer.child.wait().unwrap();
    // No /proc to look at: the channel closed and the re-attach attempts failed.
    let reason = exited(&mut remote).await;
    assert!(!remote.superseded());
    assert!(reason.contains("stopped answering"), "{reason}");
    assert!(matches!(
        peer.adopt_remote(0).await,
        Err(AdoptError::Gone(_))
    ));

    let mut peer = Peer::start();
    let remote = peer.adopt_remote(0).await.expect("adopted over TCP");
    drop(remote);
    assert!(
        peer.exits_within(Duration::from_secs(10)).await,
        "a dropped remote handle did not ask its driver to stop"
    );
}

#[tokio::test]
async fn a_remote_record_without_a_tcp_endpoint_is_gone_and_kills_nothing() {
    let peer = Peer::start();
    let record = DriverRecord {
        tcp: None,
        ..peer.remote_record()
    };
    match Peer::adopt_record(&record, peer.log(), 0).await {
        Err(AdoptError::Gone(why)) => assert!(why.contains("--driver-listen"), "{why}"),
        Err(e) => panic!("expected gone, got {e}"),
        Ok(_) => panic!("adopted without an endpoint"),
    }
    assert!(peer.alive(), "a remote record's pid was signalled here");
}
