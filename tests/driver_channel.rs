//! A driver handle against the driver's real channel (`python/epoxy_driver/channel.py`), served
//! by a small Python process instead of Spark: what one handle does when another controller
//! takes the driver over (epoch fencing), without a JVM. Needs `python3` (standard library only).

use epoxy::runtime::driver::{AdoptError, DriverCommand, DriverEvent, DriverHandle, ProcessId};
use epoxy::store::DriverRecord;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The channel with a stand-in for the Spark part: `run` answers with the code as its text,
/// `shutdown` exits.
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
                  on_command, lambda: None)
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
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "the peer never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        let process = ProcessId::of(child.id()).expect("the peer runs");
        let record = DriverRecord {
            pid: process.pid,
            start_ticks: process.start_ticks,
            socket,
            secret,
            token: uuid::Uuid::new_v4().simple().to_string(),
            spark_ui_port: None,
            metastore_user: None,
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
        DriverHandle::adopt(&self.record, self.log(), None, epoch)
            .await
            .map(|(handle, _)| handle)
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
