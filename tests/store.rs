//! The store conformance suite: every case runs against both stores, the embedded SQLite and
//! a real PostgreSQL (Debian's package, started by `common/postgres.rs`), through the traits: records, tenancy, keyset paging, tag
//! filters, the lifecycle guard, tag limits, statements, session credentials (minted for live
//! sessions only, ended with their session), persistence and schema versions; and through
//! `CatalogStore` (module `catalog`): databases, table versions, partitions, functions.

use epoxy::sessions::model::{
    Command, Session, SessionSpec, SessionStatus, StatementOutput, StatementState, Tenant,
};
use epoxy::store::postgres::PostgresStore;
use epoxy::store::sqlite::SqliteStore;
use epoxy::store::{
    DriverRecord, NewSession, NewSessionCredential, PageQuery, SessionStore, StatementUpdate,
    Store, StoreError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

use SessionStatus::{Failed, Provisioning, Ready, Stopped, Stopping, Timeout};

const ALL_STATES: [SessionStatus; 6] = [Provisioning, Ready, Failed, Timeout, Stopping, Stopped];

// ---------------------------------------------------------------------------------------------
// helpers

#[path = "common/postgres.rs"]
mod pg;

/// Which store a case runs on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

/// Where the store's data lives: a SQLite file's dir, or a PostgreSQL database's name.
enum Backend {
    Sqlite(TempDir),
    Postgres(String),
}

impl Backend {
    fn open(&self) -> Box<dyn Store> {
        match self {
            Backend::Sqlite(dir) => {
                Box::new(SqliteStore::open(&db_path(dir.path())).expect("open SQLite store"))
            }
            Backend::Postgres(name) => {
                Box::new(PostgresStore::open(&pg::url_of(name)).expect("open PostgreSQL store"))
            }
        }
    }
}

struct Db {
    backend: Backend,
    store: Box<dyn Store>,
}

impl Db {
    fn new(kind: Kind) -> Self {
        let backend = match kind {
            Kind::Sqlite => Backend::Sqlite(tempfile::tempdir().expect("temp dir")),
            Kind::Postgres => Backend::Postgres(pg::fresh_database()),
        };
        let store = backend.open();
        Self { backend, store }
    }

    fn path(&self) -> PathBuf {
        match &self.backend {
            Backend::Sqlite(dir) => db_path(dir.path()),
            Backend::Postgres(_) => panic!("a PostgreSQL store has no file"),
        }
    }

    /// `n` more stores on this PostgreSQL database, as `n` nodes would open it.
    fn nodes(&self, n: usize) -> Vec<PostgresStore> {
        let Backend::Postgres(name) = &self.backend else {
            panic!("nodes share a PostgreSQL database")
        };
        (0..n)
            .map(|_| PostgresStore::open(&pg::url_of(name)).expect("open"))
            .collect()
    }

    /// Closes the store and opens the same database again.
    fn reopen(self) -> Self {
        let Self { backend, store } = self;
        drop(store);
        let store = backend.open();
        Self { backend, store }
    }

    /// How many rows `table` holds, asked of the database itself.
    fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.backend {
            Backend::Sqlite(dir) => rusqlite::Connection::open(db_path(dir.path()))
                .unwrap()
                .query_row(&sql, [], |r| r.get(0))
                .unwrap(),
            Backend::Postgres(name) => pg::query_i64(name, &sql),
        }
    }

    fn insert(&self, t: &Tenant, id: &str, created_ms: i64, tags: &[(&str, &str)]) -> Session {
        self.try_insert(t, id, created_ms, &tag_map(tags), &spec(id))
            .unwrap_or_else(|e| panic!("insert {id}: {e}"))
    }

    fn try_insert(
        &self,
        tenant: &Tenant,
        id: &str,
        created_ms: i64,
        tags: &BTreeMap<String, String>,
        spec: &SessionSpec,
    ) -> Result<Session, StoreError> {
        self.store.insert_session(NewSession {
            tenant,
            id,
            spec,
            timeout: 10,
            tags,
            created_ms,
            owner: None,
            live_limit: None,
        })
    }

    fn get(&self, t: &Tenant, id: &str) -> Option<Session> {
        self.store.session(t, id).expect("session lookup")
    }

    fn page(
        &self,
        t: &Tenant,
        tags: &BTreeMap<String, String>,
        after: Option<&Session>,
        limit: usize,
    ) -> Vec<Session> {
        self.store
            .list_sessions(PageQuery {
                tenant: t,
                tags,
                after: after.map(|s| (s.created_ms, s.id.as_str())),
                limit,
            })
            .expect("list_sessions")
    }

    /// Every page of a listing, walked by keyset from the last session of each page.
    fn pages(
        &self,
        t: &Tenant,
        tags: &BTreeMap<String, String>,
        limit: usize,
    ) -> Vec<Vec<Session>> {
        let mut pages: Vec<Vec<Session>> = Vec::new();
        loop {
            let page = self.page(t, tags, pages.last().and_then(|p| p.last()), limit);
            if page.is_empty() {
                return pages;
            }
            pages.push(page);
        }
    }

    fn ids(&self, t: &Tenant) -> Vec<String> {
        order_keys(&self.pages(t, &BTreeMap::new(), 1000).concat())
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    fn move_to(&self, key: i64, to: SessionStatus, at_ms: i64) -> Option<Session> {
        self.store
            .transition(key, to, None, at_ms)
            .expect("transition")
    }

    /// A fresh session in `state`, reached along the documented lifecycle.
    fn session_in(&self, state: SessionStatus, id: &str) -> Session {
        let path: &[SessionStatus] = match state {
            Provisioning => &[],
            Ready => &[Ready],
            Stopping => &[Ready, Stopping],
            Stopped => &[Ready, Stopping, Stopped],
            Failed => &[Failed],
            Timeout => &[Ready, Timeout],
        };
        let mut s = self.insert(&tenant("111111111111", "us-east-1"), id, 1, &[]);
        for (i, &next) in path.iter().enumerate() {
            s = self
                .move_to(s.key, next, 10 + i as i64)
                .unwrap_or_else(|| panic!("{id}: {:?} -> {next:?} refused", s.status));
        }
        s
    }

    fn tags(&self, key: i64) -> BTreeMap<String, String> {
        self.store.tags(key).expect("tags")
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("epoxy.db")
}

fn tenant(account: &str, region: &str) -> Tenant {
    Tenant {
        account: account.into(),
        region: region.into(),
    }
}

fn alice() -> Tenant {
    tenant("111111111111", "us-east-1")
}

fn spec(description: &str) -> SessionSpec {
    SessionSpec {
        description: Some(description.into()),
        role: "arn:aws:iam::123456789012:role/Glue".into(),
        command: Command {
            name: Some("glueetl".into()),
            python_version: Some("3".into()),
        },
        idle_timeout: 5,
        default_arguments: BTreeMap::new(),
        connections: None,
        max_capacity: 5.0,
        number_of_workers: None,
        worker_type: None,
        security_configuration: None,
        glue_version: "5.0".into(),
        session_type: "LIVY".into(),
    }
}

fn tag_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn numbered_tags(prefix: &str, n: usize) -> BTreeMap<String, String> {
    (0..n)
        .map(|i| (format!("{prefix}{i}"), "v".into()))
        .collect()
}

fn order_keys(sessions: &[Session]) -> Vec<(i64, String)> {
    sessions
        .iter()
        .map(|s| (s.created_ms, s.id.clone()))
        .collect()
}

/// Strictly increasing in (created_ms, id): ordered and free of duplicates.
#[track_caller]
fn assert_strictly_ordered(keys: &[(i64, String)]) {
    for pair in keys.windows(2) {
        assert!(pair[0] < pair[1], "out of order or repeated: {pair:?}");
    }
}

/// Ids that do not follow insertion order, with several sessions sharing each created_ms.
fn scrambled_id(i: usize) -> String {
    format!("s-{:04}", (i * 7919) % 10_000)
}

fn ok_output(text: &str) -> StatementOutput {
    StatementOutput::ok(text.into())
}

// ---------------------------------------------------------------------------------------------
// records and tenancy

fn inserted_session_reads_back(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let inserted = db.insert(&t, "s1", 1_000, &[("team", "data")]);
    assert_eq!(inserted.id, "s1");
    assert_eq!(inserted.tenant, t);
    assert_eq!(inserted.status, Provisioning);
    assert_eq!(inserted.created_ms, 1_000);
    assert_eq!(inserted.spec().unwrap(), spec("s1"));
    assert_eq!((inserted.timeout, inserted.max_capacity), (10, 5.0));
    assert_eq!((inserted.ready_ms, inserted.completed_ms), (None, None));
    assert_eq!(db.get(&t, "s1").as_ref(), Some(&inserted));
    assert_eq!(
        db.store.session_by_key(inserted.key).unwrap().as_ref(),
        Some(&inserted)
    );
    assert_eq!(db.tags(inserted.key), tag_map(&[("team", "data")]));
    assert_eq!(db.get(&t, "s2"), None);
    assert_eq!(db.store.session_by_key(inserted.key + 1000).unwrap(), None);
}

fn duplicate_id_is_refused_and_changes_nothing(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let original = db.insert(&t, "s1", 1_000, &[("a", "1")]);
    let again = db.try_insert(&t, "s1", 2_000, &tag_map(&[("b", "2")]), &spec("other"));
    assert!(
        matches!(again, Err(StoreError::Duplicate)),
        "expected Duplicate, got {again:?}"
    );
    assert_eq!(db.get(&t, "s1").as_ref(), Some(&original));
    assert_eq!(db.tags(original.key), tag_map(&[("a", "1")]));
    assert_eq!(db.ids(&t), ["s1"]);
}

fn tenants_are_isolated(kind: Kind) {
    let db = Db::new(kind);
    let tenants = [
        tenant("111111111111", "us-east-1"),
        tenant("222222222222", "us-east-1"),
        tenant("111111111111", "eu-west-1"),
    ];
    for (i, t) in tenants.iter().enumerate() {
        let desc = format!("{}/{}", t.account, t.region);
        db.try_insert(t, "shared", i as i64, &tag_map(&[("k", "v")]), &spec(&desc))
            .unwrap_or_else(|e| panic!("same id in {desc}: {e}"));
        db.insert(t, &format!("own-{i}"), 100, &[("k", "v")]);
    }
    let keys: BTreeSet<i64> = tenants
        .iter()
        .map(|t| db.get(t, "shared").unwrap().key)
        .collect();
    assert_eq!(keys.len(), 3, "three distinct records");
    for (i, t) in tenants.iter().enumerate() {
        let found = db.get(t, "shared").unwrap();
        assert_eq!(&found.tenant, t);
        assert_eq!(
            found.spec().unwrap().description.as_deref(),
            Some(format!("{}/{}", t.account, t.region).as_str())
        );
        assert_eq!(db.ids(t), ["shared".to_string(), format!("own-{i}")]);
        let filtered = db.page(t, &tag_map(&[("k", "v")]), None, 100);
        assert!(filtered.iter().all(|s| &s.tenant == t), "{filtered:?}");
        assert_eq!(filtered.len(), 2);
        for j in (0..3).filter(|&j| j != i) {
            assert_eq!(
                db.get(t, &format!("own-{j}")),
                None,
                "own-{j} seen from {t:?}"
            );
        }
    }
    assert_eq!(db.get(&tenant("333333333333", "us-east-1"), "shared"), None);
}

// ---------------------------------------------------------------------------------------------
// keyset paging

fn paging_1200_sessions_is_complete_and_ordered(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    for i in 0..1200 {
        db.insert(&t, &scrambled_id(i), (i / 3) as i64, &[]);
    }
    db.insert(&tenant("222222222222", "us-east-1"), "foreign", 5, &[]);

    let pages = db.pages(&t, &BTreeMap::new(), 100);
    assert_eq!(pages.len(), 12);
    assert!(pages.iter().all(|p| p.len() == 100));
    let seen = order_keys(&pages.concat());
    assert_strictly_ordered(&seen);
    let mut expected: Vec<(i64, String)> = (0..1200)
        .map(|i| ((i / 3) as i64, scrambled_id(i)))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

fn paging_survives_inserts_and_deletes_between_pages(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let mut stable: BTreeSet<(i64, String)> = BTreeSet::new();
    for i in 0..1200 {
        let s = db.insert(&t, &scrambled_id(i), (i / 3) as i64 * 10, &[]);
        stable.insert((s.created_ms, s.id));
    }
    // Sessions inserted ahead of the cursor must show up; deleted ones must not.
    let mut inserted_ahead: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut deleted: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut cursor: Option<Session> = None;
    let mut round = 0;
    loop {
        let page = db.page(&t, &BTreeMap::new(), cursor.as_ref(), 100);
        let Some(last) = page.last().cloned() else {
            break;
        };
        seen.extend(order_keys(&page));
        round += 1;
        if round > 10 {
            cursor = Some(last);
            continue; // let the listing finish
        }
        let at = last.created_ms;
        // Behind the cursor, tied with it on either side of its id, and ahead of it.
        for (n, created) in [at - 5, at, at, at + 3, at + 4000].into_iter().enumerate() {
            let id = if n == 1 {
                format!("a-{round}") // sorts before "s-…": behind the cursor at a tie
            } else {
                format!("z-{round}-{n}")
            };
            let s = db.insert(&t, &id, created, &[]);
            if (s.created_ms, s.id.as_str()) > (last.created_ms, last.id.as_str()) {
                inserted_ahead.insert((s.created_ms, s.id));
            }
        }
        // Delete a few sessions not reached yet, and one already seen.
        let ahead = db.page(&t, &BTreeMap::new(), Some(&last), 40);
        for victim in ahead
            .iter()
            .step_by(9)
            .chain(page.first())
            .filter(|s| !s.id.starts_with('z'))
        {
            db.store.delete_session(victim.key).unwrap();
            let k = (victim.created_ms, victim.id.clone());
            stable.remove(&k);
            if (victim.created_ms, victim.id.as_str()) > (last.created_ms, last.id.as_str()) {
                deleted.insert(k);
            }
        }
        cursor = Some(last);
    }
    assert!(round >= 12, "only {round} pages");
    assert!(
        inserted_ahead.len() >= 20 && deleted.len() >= 20,
        "too little churn"
    );
    assert_strictly_ordered(&seen);
    let seen: BTreeSet<(i64, String)> = seen.into_iter().collect();
    let missing: Vec<_> = stable.difference(&seen).collect();
    assert!(missing.is_empty(), "never listed: {missing:?}");
    let missing: Vec<_> = inserted_ahead.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "inserted ahead, never listed: {missing:?}"
    );
    let ghosts: Vec<_> = deleted.intersection(&seen).collect();
    assert!(
        ghosts.is_empty(),
        "deleted before reached, yet listed: {ghosts:?}"
    );
}

fn tag_filters_are_and_and_pages_are_full(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let other = tenant("222222222222", "us-east-1");
    let mut all: Vec<((i64, String), BTreeMap<String, String>)> = Vec::new();
    for i in 0..300 {
        let team = if i % 2 == 0 { "a" } else { "b" };
        let env = if i % 3 == 0 { "prod" } else { "dev" };
        let mut tags = vec![("team", team), ("env", env)];
        if i % 5 == 0 {
            tags.push(("extra", "x"));
        }
        let s = db.insert(&t, &scrambled_id(i), (i / 4) as i64, &tags);
        db.insert(&other, &s.id, s.created_ms, &tags);
        all.push(((s.created_ms, s.id), tag_map(&tags)));
    }
    all.sort();
    // The first key in the filter's order ("env", "extra") drives the scan; the others are
    // checked per row. Neither may change the answer.
    let filters = [
        tag_map(&[("team", "a")]),
        tag_map(&[("team", "a"), ("env", "prod")]),
        tag_map(&[("team", "b"), ("extra", "x")]),
        tag_map(&[("team", "a"), ("env", "prod"), ("extra", "x")]),
    ];
    for filter in filters {
        let expected: Vec<(i64, String)> = all
            .iter()
            .filter(|(_, tags)| filter.iter().all(|(k, v)| tags.get(k) == Some(v)))
            .map(|(key, _)| key.clone())
            .collect();
        assert!(!expected.is_empty(), "{filter:?} selects nothing");
        for limit in [7, 50] {
            let pages = db.pages(&t, &filter, limit);
            let (last, full) = pages.split_last().expect("at least one page");
            assert!(
                full.iter().all(|p| p.len() == limit) && last.len() <= limit,
                "{filter:?} limit {limit}: page sizes {:?}",
                pages.iter().map(Vec::len).collect::<Vec<_>>()
            );
            let listed = pages.concat();
            assert!(listed.iter().all(|s| s.tenant == t));
            assert_eq!(order_keys(&listed), expected, "{filter:?} limit {limit}");
        }
    }
    for filter in [
        tag_map(&[("team", "a"), ("env", "qa")]),
        tag_map(&[("team", "A")]),
        tag_map(&[("nope", "a")]),
    ] {
        let none = db.page(&t, &filter, None, 100);
        assert!(none.is_empty(), "{filter:?}: {none:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// lifecycle

/// The lifecycle of the spec (c.1): PROVISIONING → READY | FAILED | STOPPING,
/// READY → STOPPING | FAILED | TIMEOUT, STOPPING → STOPPED | FAILED; nothing leaves an end state.
fn legal(from: SessionStatus, to: SessionStatus) -> bool {
    matches!(
        (from, to),
        (Provisioning, Ready | Failed | Stopping)
            | (Ready, Stopping | Failed | Timeout)
            | (Stopping, Stopped | Failed)
    )
}

fn transitions_follow_the_state_machine(kind: Kind) {
    let db = Db::new(kind);
    for from in ALL_STATES {
        for to in ALL_STATES {
            let id = format!("{from:?}-{to:?}");
            let before = db.session_in(from, &id);
            let moved = db
                .store
                .transition(before.key, to, Some("why"), 1_000)
                .unwrap();
            let after = db.store.session_by_key(before.key).unwrap().unwrap();
            if !legal(from, to) {
                assert_eq!(moved, None, "{from:?} -> {to:?} must be refused");
                assert_eq!(
                    after, before,
                    "{from:?} -> {to:?} refused but changed the record"
                );
                continue;
            }
            let moved = moved.unwrap_or_else(|| panic!("{from:?} -> {to:?} must be allowed"));
            assert_eq!(moved, after, "returned record differs from the stored one");
            assert_eq!(after.status, to);
            assert_eq!(after.error_message.as_deref(), Some("why"));
            assert_eq!(
                after.ready_ms,
                if to == Ready {
                    Some(1_000)
                } else {
                    before.ready_ms
                },
                "{from:?} -> {to:?} ready_ms"
            );
            let terminal = matches!(to, Stopped | Failed | Timeout);
            assert_eq!(
                after.completed_ms,
                terminal.then_some(1_000),
                "{from:?} -> {to:?} completed_ms"
            );
            assert_eq!((after.id.as_str(), after.created_ms), (id.as_str(), 1));
        }
    }
}

fn ready_and_stop_stamp_their_times(kind: Kind) {
    let db = Db::new(kind);
    let s = db.insert(&alice(), "s1", 100, &[]);
    let ready = db.move_to(s.key, Ready, 200).unwrap();
    assert_eq!((ready.ready_ms, ready.completed_ms), (Some(200), None));
    assert_eq!(ready.last_activity_ms, 200);
    assert_eq!(ready.error_message, None, "no message was given");
    let stopping = db.move_to(s.key, Stopping, 300).unwrap();
    assert_eq!(
        (stopping.ready_ms, stopping.completed_ms),
        (Some(200), None)
    );
    let stopped = db.move_to(s.key, Stopped, 400).unwrap();
    assert_eq!(
        (stopped.ready_ms, stopped.completed_ms),
        (Some(200), Some(400))
    );
    assert_eq!(db.move_to(s.key, Ready, 500), None);
    assert_eq!(db.store.session_by_key(s.key).unwrap(), Some(stopped));
    assert_eq!(db.move_to(s.key + 99, Ready, 500), None, "unknown key");
}

fn live_sessions_and_timeouts(kind: Kind) {
    let db = Db::new(kind);
    let minute = 1_000;
    db.session_in(Provisioning, "p");
    db.session_in(Stopping, "st");
    db.session_in(Stopped, "done");
    let idle = db.insert(&alice(), "idle", 0, &[]);
    let busy = db.insert(&alice(), "busy", 0, &[]);
    let old = db.insert(&alice(), "old", 0, &[]);
    for s in [&idle, &busy, &old] {
        db.move_to(s.key, Ready, 0).unwrap();
    }
    db.store
        .insert_statement(busy.key, "spin()")
        .unwrap()
        .unwrap();
    db.store.touch(old.key, 9 * minute).unwrap();

    let live: BTreeSet<String> = db
        .store
        .live_sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let expected: BTreeSet<String> = ["p", "st", "idle", "busy", "old"].map(String::from).into();
    assert_eq!(live, expected);

    // spec(): Timeout 10 minutes, IdleTimeout 5.
    let due = |now: i64| -> BTreeSet<i64> {
        db.store
            .timed_out(now, minute)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert!(due(4 * minute).is_empty());
    assert_eq!(due(5 * minute), [idle.key].into(), "idle, nothing pending");
    assert_eq!(due(10 * minute), [idle.key, busy.key, old.key].into());
}

// ---------------------------------------------------------------------------------------------
// tags

fn too_many_tags_roll_back(kind: Kind) {
    let db = Db::new(kind);
    let s = db.insert(&alice(), "s1", 1, &[]);
    db.store.add_tags(s.key, &numbered_tags("old", 40)).unwrap();
    let before = db.tags(s.key);

    let err = db.store.add_tags(s.key, &numbered_tags("new", 11));
    assert!(matches!(err, Err(StoreError::TooManyTags(50))), "{err:?}");
    assert_eq!(
        db.tags(s.key),
        before,
        "a refused add_tags changed the tags"
    );

    db.store.add_tags(s.key, &numbered_tags("new", 10)).unwrap();
    assert_eq!(db.tags(s.key).len(), 50);
    // Overwriting existing keys does not add tags.
    db.store
        .add_tags(s.key, &tag_map(&[("old0", "changed")]))
        .unwrap();
    let full = db.tags(s.key);
    assert_eq!((full.len(), full["old0"].as_str()), (50, "changed"));
    let err = db
        .store
        .add_tags(s.key, &tag_map(&[("old1", "x"), ("one-more", "x")]));
    assert!(matches!(err, Err(StoreError::TooManyTags(_))), "{err:?}");
    assert_eq!(
        db.tags(s.key),
        full,
        "the overwrite in a refused call must not stick"
    );
}

fn insert_with_too_many_tags_stores_nothing(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let err = db.try_insert(&t, "s1", 1, &numbered_tags("k", 51), &spec("s1"));
    assert!(matches!(err, Err(StoreError::TooManyTags(_))), "{err:?}");
    assert_eq!(db.get(&t, "s1"), None);
    assert!(db.page(&t, &tag_map(&[("k0", "v")]), None, 10).is_empty());
    let s = db.insert(&t, "s1", 1, &[("k0", "v")]);
    assert_eq!(db.tags(s.key).len(), 1);
}

fn remove_tags_removes_only_named_keys(kind: Kind) {
    let db = Db::new(kind);
    let s = db.insert(&alice(), "s1", 1, &[("a", "1"), ("b", "2"), ("c", "3")]);
    db.store
        .remove_tags(s.key, &["a".into(), "missing".into(), "c".into()])
        .unwrap();
    assert_eq!(db.tags(s.key), tag_map(&[("b", "2")]));
    assert!(
        db.page(&alice(), &tag_map(&[("a", "1")]), None, 10)
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// statements

fn statements_only_on_ready_sessions_numbered_per_session(kind: Kind) {
    let db = Db::new(kind);
    let s = db.insert(&alice(), "s1", 1, &[]);
    assert_eq!(
        db.store.insert_statement(s.key, "1").unwrap(),
        None,
        "PROVISIONING"
    );
    db.move_to(s.key, Ready, 2).unwrap();
    let ids: Vec<Option<i64>> = ["a", "b", "c"]
        .iter()
        .map(|code| db.store.insert_statement(s.key, code).unwrap())
        .collect();
    assert_eq!(ids, [Some(0), Some(1), Some(2)]);

    let other = db.session_in(Ready, "s2");
    assert_eq!(db.store.insert_statement(other.key, "x").unwrap(), Some(0));
    assert_eq!(
        db.store.insert_statement(s.key + 999, "x").unwrap(),
        None,
        "no session"
    );
    for state in [Stopping, Stopped, Failed, Timeout] {
        let gone = db.session_in(state, &format!("in-{state:?}"));
        assert_eq!(
            db.store.insert_statement(gone.key, "x").unwrap(),
            None,
            "{state:?}"
        );
        assert!(db.store.statements(gone.key, None, 10).unwrap().is_empty());
    }

    let first = db.store.statement(s.key, 0).unwrap().unwrap();
    assert_eq!(
        (first.code.as_str(), first.state),
        ("a", StatementState::Waiting)
    );
    assert_eq!(
        (first.progress, first.started_ms, first.completed_ms),
        (0.0, 0, 0)
    );
    assert_eq!(first.output, None);
    assert_eq!(db.store.statement(s.key, 3).unwrap(), None);
    let page = |after, limit| -> Vec<i64> {
        let list = db.store.statements(s.key, after, limit).unwrap();
        list.iter().map(|st| st.id).collect()
    };
    assert_eq!(page(None, 2), [0, 1]);
    assert_eq!(page(Some(1), 10), [2]);
    assert_eq!(page(Some(2), 10), Vec::<i64>::new());
}

fn statement_updates_are_guarded(kind: Kind) {
    use StatementState::*;
    let db = Db::new(kind);
    let s = db.session_in(Ready, "s1");
    for code in ["a", "b", "c"] {
        db.store.insert_statement(s.key, code).unwrap();
    }
    let update =
        |id, from: &[StatementState], u| db.store.update_statement(s.key, id, from, u).unwrap();
    let get = |id| db.store.statement(s.key, id).unwrap().unwrap();

    assert_eq!(
        db.store.next_waiting(s.key).unwrap().map(|st| st.id),
        Some(0)
    );
    assert!(update(0, &[Waiting], StatementUpdate::Running { at_ms: 5 }));
    assert_eq!(
        db.store.next_waiting(s.key).unwrap().map(|st| st.id),
        Some(1)
    );
    assert!(
        !update(0, &[Waiting], StatementUpdate::Running { at_ms: 6 }),
        "no longer WAITING"
    );
    assert_eq!((get(0).state, get(0).started_ms), (Running, 5));
    assert!(update(0, &[Running], StatementUpdate::Progress(0.5)));
    assert_eq!(get(0).progress, 0.5);
    assert!(
        !update(1, &[Running], StatementUpdate::Cancelling),
        "1 is WAITING"
    );
    assert_eq!(get(1).state, Waiting);

    let out = ok_output("42");
    let finish = |at_ms| StatementUpdate::Finished {
        state: Available,
        output: &out,
        at_ms,
    };
    assert!(update(0, &[Running, Cancelling], finish(9)));
    let done = get(0);
    assert_eq!(
        (done.state, done.completed_ms, done.started_ms),
        (Available, 9, 5)
    );
    assert_eq!(done.output.as_ref(), Some(&out));
    assert_eq!(done.progress, 1.0);
    assert!(
        !update(0, &[Running, Cancelling], finish(10)),
        "already final"
    );
    assert_eq!(get(0), done);
    assert!(
        !update(7, &[Waiting], StatementUpdate::Running { at_ms: 1 }),
        "no such statement"
    );
}

fn finish_pending_ends_only_unfinished_statements(kind: Kind) {
    use StatementState::*;
    let db = Db::new(kind);
    let s = db.session_in(Ready, "s1");
    let other = db.session_in(Ready, "s2");
    for _ in 0..4 {
        db.store.insert_statement(s.key, "x").unwrap();
    }
    db.store.insert_statement(other.key, "y").unwrap();
    let out = ok_output("done");
    db.store
        .update_statement(s.key, 0, &[Waiting], StatementUpdate::Running { at_ms: 3 })
        .unwrap();
    db.store
        .update_statement(
            s.key,
            0,
            &[Running],
            StatementUpdate::Finished {
                state: Available,
                output: &out,
                at_ms: 4,
            },
        )
        .unwrap();
    db.store
        .update_statement(s.key, 1, &[Waiting], StatementUpdate::Running { at_ms: 5 })
        .unwrap();
    db.store
        .update_statement(s.key, 2, &[Waiting], StatementUpdate::Running { at_ms: 6 })
        .unwrap();
    db.store
        .update_statement(s.key, 2, &[Running], StatementUpdate::Cancelling)
        .unwrap();
    let finished_before = db.store.statement(s.key, 0).unwrap();

    let lost = StatementOutput::error(String::new(), "DriverLost", "gone".into(), Vec::new());
    db.store
        .finish_pending_statements(s.key, Error, &lost, 50)
        .unwrap();

    assert_eq!(db.store.statement(s.key, 0).unwrap(), finished_before);
    for (id, started) in [(1, 5), (2, 6), (3, 50)] {
        let st = db.store.statement(s.key, id).unwrap().unwrap();
        assert_eq!(
            (st.state, st.completed_ms, st.started_ms),
            (Error, 50, started),
            "#{id}"
        );
        assert_eq!(st.output.as_ref(), Some(&lost));
    }
    assert_eq!(db.store.next_waiting(s.key).unwrap(), None);
    let untouched = db.store.statement(other.key, 0).unwrap().unwrap();
    assert_eq!(
        untouched.state, Waiting,
        "another session's statement was ended"
    );
}

fn deleting_a_session_deletes_its_tags_and_statements(kind: Kind) {
    let db = Db::new(kind);
    let s = db.session_in(Ready, "s1");
    db.store.add_tags(s.key, &tag_map(&[("k", "v")])).unwrap();
    db.store.insert_statement(s.key, "x").unwrap();
    db.store.delete_session(s.key).unwrap();
    assert_eq!(db.get(&alice(), "s1"), None);
    assert!(db.tags(s.key).is_empty());
    assert_eq!(db.store.statement(s.key, 0).unwrap(), None);
    assert!(
        db.page(&alice(), &tag_map(&[("k", "v")]), None, 10)
            .is_empty()
    );
    // The id is free again.
    db.insert(&alice(), "s1", 5, &[]);
}

/// A driver record reads back as written, a new record replaces the old, `None` forgets it, a
/// record for a session that does not exist is not stored, and the session's deletion takes it.
fn driver_records_follow_their_session(kind: Kind) {
    let db = Db::new(kind);
    let s = db.session_in(Ready, "s1");
    let record = |pid: u32, port: Option<u16>| DriverRecord {
        pid,
        start_ticks: u64::from(pid) * 1_000,
        socket: PathBuf::from(format!("/data/runtime/sockets/{pid}.sock")),
        secret: "ab".repeat(32),
        token: format!("token-{pid}"),
        spark_ui_port: port,
        metastore_user: port.map(|p| format!("epoxy-driver-{p}")),
        tcp: port.map(|p| format!("10.0.0.7:{p}")),
        host: format!("machine-{pid}/node-{pid}"),
    };
    let fields = |r: &DriverRecord| {
        (
            r.pid,
            r.start_ticks,
            r.socket.clone(),
            r.secret.clone(),
            r.token.clone(),
            r.spark_ui_port,
            r.metastore_user.clone(),
            r.tcp.clone(),
            r.host.clone(),
        )
    };
    assert!(db.store.driver_record(s.key).unwrap().is_none());
    db.store
        .set_driver_record(s.key, Some(&record(41, Some(4040))), 10)
        .unwrap();
    let stored = db.store.driver_record(s.key).unwrap().expect("recorded");
    assert_eq!(
        (stored.tcp.as_deref(), stored.host.as_str()),
        (Some("10.0.0.7:4040"), "machine-41/node-41"),
        "the endpoints read back"
    );
    db.store
        .set_driver_record(s.key, Some(&record(42, None)), 11)
        .unwrap();
    let stored = db.store.driver_record(s.key).unwrap().expect("recorded");
    assert_eq!(
        fields(&stored),
        fields(&record(42, None)),
        "the newer record wins"
    );
    db.store.set_driver_record(s.key, None, 12).unwrap();
    assert!(db.store.driver_record(s.key).unwrap().is_none());

    db.store
        .set_driver_record(s.key + 1000, Some(&record(43, None)), 13)
        .unwrap();
    assert!(db.store.driver_record(s.key + 1000).unwrap().is_none());

    db.store
        .set_driver_record(s.key, Some(&record(44, Some(1))), 14)
        .unwrap();
    db.store.delete_session(s.key).unwrap();
    assert!(db.store.driver_record(s.key).unwrap().is_none());
}

/// Any node's metastore finds a driver by its credential: the tenant of its session while that
/// is live, nothing once it ended, for another tenant's session or an unknown credential.
fn drivers_are_found_by_their_metastore_credential(kind: Kind) {
    let db = Db::new(kind);
    let record = |user: &str| DriverRecord {
        pid: 7,
        start_ticks: 7_000,
        socket: PathBuf::from("/data/runtime/sockets/7.sock"),
        secret: "cd".repeat(32),
        token: "token-7".into(),
        spark_ui_port: None,
        metastore_user: Some(user.into()),
        tcp: None,
        host: "machine/node".into(),
    };
    let (a, b) = (
        db.session_in(Ready, "a1"),
        db.session_in(Provisioning, "b1"),
    );
    let bob_tenant = Tenant {
        account: "222222222222".into(),
        region: "eu-west-1".into(),
    };
    let bob = db.insert(&bob_tenant, "b1", 5, &[]);
    db.store
        .set_driver_record(a.key, Some(&record("epoxy-a")), 10)
        .unwrap();
    db.store
        .set_driver_record(b.key, Some(&record("epoxy-b")), 10)
        .unwrap();
    db.store
        .set_driver_record(bob.key, Some(&record("epoxy-bob")), 10)
        .unwrap();
    let found = |user: &str| db.store.driver_tenant(user).unwrap();
    assert_eq!(found("epoxy-a"), Some(alice()));
    assert_eq!(
        found("epoxy-b"),
        Some(alice()),
        "a PROVISIONING session's driver"
    );
    assert_eq!(found("epoxy-bob"), Some(bob_tenant));
    assert_eq!(found("epoxy-nobody"), None);
    assert_eq!(found(""), None);
    db.move_to(a.key, Stopping, 11).unwrap();
    assert_eq!(found("epoxy-a"), Some(alice()), "still live while STOPPING");
    db.move_to(a.key, Stopped, 12).unwrap();
    assert_eq!(
        found("epoxy-a"),
        None,
        "an ended session's driver has no catalog"
    );
    db.store.delete_session(bob.key).unwrap();
    assert_eq!(found("epoxy-bob"), None);
}

// ---------------------------------------------------------------------------------------------
// session credentials

const TOKEN_SHA: [u8; 32] = [7; 32];

impl Db {
    /// Stores a credential `akid` for session `key`, created at 100, expiring at `expires_ms`.
    fn mint(&self, key: i64, akid: &str, expires_ms: i64) -> Result<bool, StoreError> {
        self.store.insert_session_credential(NewSessionCredential {
            session_key: key,
            access_key_id: akid,
            secret: "secret/of+the key",
            token_sha256: &TOKEN_SHA,
            arn: "arn:aws:sts::111111111111:assumed-role/Glue/s",
            user_id: "AROAEXAMPLE:s",
            created_ms: 100,
            expires_ms,
        })
    }

    /// (expires_ms, revoked_ms) of a stored credential.
    fn credential_times(&self, akid: &str) -> Option<(i64, Option<i64>)> {
        self.store
            .session_credential(akid)
            .expect("credential lookup")
            .map(|c| (c.expires_ms, c.revoked_ms))
    }
}

fn a_credential_is_stored_with_its_session_tenancy(kind: Kind) {
    let db = Db::new(kind);
    let t = tenant("111111111111", "eu-west-1");
    let s = db.insert(&t, "s", 1, &[]);
    assert!(db.mint(s.key, "ASIAONE", 5_000).unwrap());
    let c = db
        .store
        .session_credential("ASIAONE")
        .unwrap()
        .expect("stored");
    assert_eq!(c.tenant, t);
    assert_eq!(c.session_id, "s");
    assert_eq!(c.secret, "secret/of+the key");
    assert_eq!(c.token_sha256, TOKEN_SHA);
    assert_eq!(c.arn, "arn:aws:sts::111111111111:assumed-role/Glue/s");
    assert_eq!(c.user_id, "AROAEXAMPLE:s");
    assert_eq!((c.expires_ms, c.revoked_ms), (5_000, None));
    assert!(
        !format!("{c:?}").contains("secret/of+the key"),
        "Debug shows the secret"
    );
    assert!(db.store.session_credential("ASIAOTHER").unwrap().is_none());
    assert!(matches!(
        db.mint(s.key, "ASIAONE", 1),
        Err(StoreError::Duplicate)
    ));
    assert_eq!(db.credential_times("ASIAONE"), Some((5_000, None)));
}

fn credentials_are_minted_for_live_sessions_only(kind: Kind) {
    let db = Db::new(kind);
    for state in ALL_STATES {
        let s = db.session_in(state, &format!("in-{state}"));
        let minted = db.mint(s.key, &format!("ASIA{state}"), 5_000).unwrap();
        assert_eq!(minted, state.is_live(), "{state}");
        assert_eq!(
            db.credential_times(&format!("ASIA{state}")).is_some(),
            state.is_live(),
            "{state}"
        );
    }
    assert!(!db.mint(9_999, "ASIANOSESSION", 5_000).unwrap());
}

fn a_session_end_ends_its_credentials(kind: Kind) {
    let db = Db::new(kind);
    let ends: [(&str, &[SessionStatus]); 4] = [
        ("stopped", &[Ready, Stopping, Stopped]),
        ("failed", &[Failed]),
        ("failed-stopping", &[Ready, Stopping, Failed]),
        ("timed-out", &[Ready, Timeout]),
    ];
    for (id, path) in ends {
        let s = db.insert(&alice(), id, 1, &[]);
        assert!(db.mint(s.key, &format!("ASIA-{id}-1"), 5_000).unwrap());
        assert!(db.mint(s.key, &format!("ASIA-{id}-2"), 500).unwrap());
        for (i, &next) in path.iter().enumerate() {
            db.move_to(s.key, next, 1_000 + i as i64).expect("move");
        }
        let end = 1_000 + path.len() as i64 - 1;
        let (one, two) = (
            db.credential_times(&format!("ASIA-{id}-1")),
            db.credential_times(&format!("ASIA-{id}-2")),
        );
        if id == "timed-out" {
            // The session's time ran out: its keys expire then, unless they already had.
            assert_eq!((one, two), (Some((end, None)), Some((500, None))), "{id}");
        } else {
            assert_eq!(
                (one, two),
                (Some((5_000, Some(end))), Some((500, Some(end)))),
                "{id}"
            );
        }
    }
    // Other sessions' keys are untouched, and a delete takes the keys with the session.
    let live = db.insert(&alice(), "live", 1, &[]);
    assert!(db.mint(live.key, "ASIALIVE", 5_000).unwrap());
    let doomed = db.insert(&alice(), "doomed", 1, &[]);
    assert!(db.mint(doomed.key, "ASIADOOMED", 5_000).unwrap());
    db.move_to(doomed.key, Failed, 2_000).unwrap();
    db.store.delete_session(doomed.key).unwrap();
    assert_eq!(db.credential_times("ASIADOOMED"), None);
    assert_eq!(db.credential_times("ASIALIVE"), Some((5_000, None)));
    // A refused move (READY twice) revokes nothing.
    db.move_to(live.key, Ready, 3_000).unwrap();
    assert!(db.move_to(live.key, Ready, 3_001).is_none());
    assert_eq!(db.credential_times("ASIALIVE"), Some((5_000, None)));
}

fn revoking_all_credentials_spares_only_the_already_revoked(kind: Kind) {
    let db = Db::new(kind);
    let live = db.session_in(Ready, "live");
    let ended = db.session_in(Ready, "ended");
    assert!(db.mint(live.key, "ASIALIVE", 5_000).unwrap());
    assert!(db.mint(ended.key, "ASIAENDED", 5_000).unwrap());
    db.move_to(ended.key, Failed, 40).unwrap();
    assert_eq!(db.store.revoke_all_session_credentials(50).unwrap(), 1);
    assert_eq!(db.credential_times("ASIALIVE"), Some((5_000, Some(50))));
    assert_eq!(db.credential_times("ASIAENDED"), Some((5_000, Some(40))));
    assert_eq!(db.store.revoke_all_session_credentials(60).unwrap(), 0);
}

#[test]
fn a_version_1_database_gains_the_credentials_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../migrations/0001_init.sql"))
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO sessions (account, region, id, spec, timeout_min, idle_timeout_min,
                               max_capacity, status, created_ms, last_activity_ms)
         VALUES ('111111111111', 'us-east-1', 'old', ?1, 10, 5, 5.0, 'READY', 1, 1)",
        [serde_json::to_string(&spec("old")).unwrap()],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).expect("upgrade");
    let old = store.session(&alice(), "old").unwrap().expect("kept");
    let db = Db {
        backend: Backend::Sqlite(dir),
        store: Box::new(store),
    };
    assert!(db.mint(old.key, "ASIAOLD", 5_000).unwrap());
    db.move_to(old.key, Stopping, 2).unwrap();
    db.move_to(old.key, Stopped, 3).unwrap();
    assert_eq!(db.credential_times("ASIAOLD"), Some((5_000, Some(3))));
}

// ---------------------------------------------------------------------------------------------
// persistence and schema

fn everything_survives_a_reopen(kind: Kind) {
    let db = Db::new(kind);
    let t = alice();
    let s1 = db.insert(&t, "s1", 1, &[("a", "1")]);
    db.move_to(s1.key, Ready, 2).unwrap();
    db.store.insert_statement(s1.key, "print(1)").unwrap();
    db.store
        .update_statement(
            s1.key,
            0,
            &[StatementState::Waiting],
            StatementUpdate::Finished {
                state: StatementState::Available,
                output: &ok_output("1"),
                at_ms: 3,
            },
        )
        .unwrap();
    let s2 = db.insert(&tenant("222222222222", "eu-west-1"), "s2", 4, &[]);
    db.store
        .transition(s2.key, Failed, Some("boom"), 5)
        .unwrap();
    assert!(db.mint(s1.key, "ASIAKEPT", 9_000).unwrap());
    let secret = db.store.secret().unwrap();
    assert!(
        secret.len() >= 16,
        "secret too short: {} bytes",
        secret.len()
    );
    assert_eq!(
        db.store.secret().unwrap(),
        secret,
        "secret changed between calls"
    );

    let sessions_before = [db.get(&t, "s1"), db.store.session_by_key(s2.key).unwrap()];
    let statements_before = db.store.statements(s1.key, None, 10).unwrap();

    let db = db.reopen();
    let sessions_after = [db.get(&t, "s1"), db.store.session_by_key(s2.key).unwrap()];
    assert_eq!(sessions_after, sessions_before);
    assert_eq!(db.tags(s1.key), tag_map(&[("a", "1")]));
    assert_eq!(
        db.store.statements(s1.key, None, 10).unwrap(),
        statements_before
    );
    assert_eq!(
        db.store.secret().unwrap(),
        secret,
        "token secret lost on reopen"
    );
    assert_eq!(db.credential_times("ASIAKEPT"), Some((9_000, None)));
    assert_eq!(db.store.insert_statement(s1.key, "next").unwrap(), Some(1));
    let again = db.try_insert(&t, "s1", 9, &BTreeMap::new(), &spec("x"));
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
}

#[test]
fn newer_schema_is_refused_by_sqlite() {
    let db = Db::new(Kind::Sqlite);
    db.insert(&alice(), "s1", 1, &[]);
    let path = db.path();
    let Db { backend, store } = db;
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let known: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(
        known >= 1,
        "a fresh database must record its schema version"
    );
    let future = known + 7;
    conn.pragma_update(None, "user_version", future).unwrap();
    drop(conn);

    match SqliteStore::open(&path) {
        Err(StoreError::Migration(message)) => {
            assert!(message.contains(&future.to_string()), "{message}");
        }
        Err(other) => panic!("expected a Migration error, got {other:?}"),
        Ok(_) => panic!("a database from a newer epoxy was opened"),
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let after: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, future, "the refused database was modified");
    drop(backend);
}

#[test]
fn newer_schema_is_refused_by_postgres() {
    let db = Db::new(Kind::Postgres);
    db.insert(&alice(), "s1", 1, &[]);
    let Db { backend, store } = db;
    drop(store);
    let Backend::Postgres(name) = &backend else {
        unreachable!()
    };
    let known = pg::query_i64(name, "SELECT version FROM epoxy_schema");
    assert!(
        known >= 1,
        "a fresh database must record its schema version"
    );
    let future = known + 7;
    pg::execute(name, &format!("UPDATE epoxy_schema SET version = {future}"));
    match PostgresStore::open(&pg::url_of(name)) {
        Err(StoreError::Migration(message)) => {
            assert!(message.contains(&future.to_string()), "{message}");
        }
        Err(other) => panic!("expected a Migration error, got {other:?}"),
        Ok(_) => panic!("a database from a newer epoxy was opened"),
    }
    assert_eq!(
        pg::query_i64(name, "SELECT version FROM epoxy_schema"),
        future,
        "the refused database was modified"
    );
    assert_eq!(pg::query_i64(name, "SELECT count(*) FROM sessions"), 1);
}

#[test]
fn an_unreachable_postgres_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgresql://epoxy@/postgres?host={}", dir.path().display());
    match PostgresStore::open(&url) {
        Err(StoreError::Unavailable(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("opened a database that does not exist"),
    }
    assert!(matches!(
        PostgresStore::open("postgres://[bad"),
        Err(StoreError::Url(_))
    ));
    // `--store` takes PostgreSQL URLs only; SQLite is what leaving it out means.
    for url in ["mysql://db/x", "sqlite:///tmp/x.db", "epoxy.db", ""] {
        assert!(
            matches!(
                epoxy::store::open(Some(url), dir.path()),
                Err(StoreError::Url(_))
            ),
            "{url:?} was accepted"
        );
    }
    assert!(epoxy::store::open(None, dir.path()).is_ok());
    assert!(dir.path().join("epoxy.db").exists());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    assert!(SqliteStore::open(&path).is_err());
}

// ---------------------------------------------------------------------------------------------
// the catalog part (`CatalogStore`)

mod catalog {
    use super::{Db, Kind};
    use epoxy::catalog::model::{Database, Partition, Table, UserDefinedFunction};
    use epoxy::sessions::model::Tenant;
    use epoxy::store::StoreError;
    use epoxy::store::catalog::{Insert, TableWrite};

    fn tenant(account: &str) -> Tenant {
        Tenant {
            account: account.into(),
            region: "us-east-1".into(),
        }
    }

    fn database(name: &str) -> Database {
        Database {
            name: name.into(),
            description: Some(format!("about {name}")),
            ..Database::default()
        }
    }

    fn table(name: &str, marker: &str) -> Table {
        Table {
            name: name.into(),
            table_type: Some("EXTERNAL_TABLE".into()),
            parameters: Some([("marker".to_string(), marker.to_string())].into()),
            ..Table::default()
        }
    }

    fn partition(values: &[&str]) -> Partition {
        Partition {
            values: Some(values.iter().map(|v| v.to_string()).collect()),
            ..Partition::default()
        }
    }

    fn function(name: &str) -> UserDefinedFunction {
        UserDefinedFunction {
            function_name: Some(name.into()),
            class_name: Some("C".into()),
            ..UserDefinedFunction::default()
        }
    }

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rows(db: &Db, table: &str) -> i64 {
        db.count(table)
    }

    /// A database with one table (two versions, two partitions) and a function.
    fn populated(db: &Db, t: &Tenant) {
        let s = &db.store;
        assert_eq!(s.insert_database(t, &database("d")).unwrap(), Insert::Done);
        assert_eq!(
            s.insert_table(t, "d", &table("t", "v1")).unwrap(),
            Insert::Done
        );
        assert_eq!(
            s.update_table(t, "d", &table("t", "v2"), Some(1), true)
                .unwrap(),
            TableWrite::Done(2)
        );
        let parts = [partition(&["2024", "eu"]), partition(&["2024", "us"])];
        assert_eq!(
            s.insert_partitions(t, "d", "t", &parts).unwrap(),
            vec![Insert::Done, Insert::Done]
        );
        assert_eq!(
            s.insert_function(t, "d", &function("f")).unwrap(),
            Insert::Done
        );
    }

    pub(super) fn databases_are_per_tenant_paged_and_cascade_on_delete(kind: Kind) {
        let db = Db::new(kind);
        let (a, b) = (tenant("111111111111"), tenant("222222222222"));
        let s = &db.store;
        populated(&db, &a);
        assert_eq!(
            s.insert_database(&a, &database("d")).unwrap(),
            Insert::Exists
        );
        assert!(
            s.database(&b, "d").unwrap().is_none(),
            "another tenant's catalog is separate"
        );
        assert_eq!(s.insert_database(&b, &database("d")).unwrap(), Insert::Done);
        for n in ["a", "c", "e"] {
            s.insert_database(&a, &database(n)).unwrap();
        }
        let names = |after, limit| -> Vec<String> {
            s.databases(&a, after, limit)
                .unwrap()
                .into_iter()
                .map(|d| d.name)
                .collect()
        };
        assert_eq!(names(None, 2), ["a", "c"]);
        assert_eq!(names(Some("c"), 10), ["d", "e"]);
        assert_eq!(s.database_contents(&a, "d").unwrap(), 2);
        assert_eq!(s.database_contents(&a, "a").unwrap(), 0);

        let mut renamed = database("d");
        renamed.description = Some("new".into());
        assert!(s.replace_database(&a, "d", &renamed).unwrap());
        assert_eq!(
            s.database(&a, "d").unwrap().unwrap().description.as_deref(),
            Some("new")
        );
        assert!(!s.replace_database(&a, "zz", &renamed).unwrap());

        assert!(s.delete_database(&a, "d").unwrap());
        assert!(!s.delete_database(&a, "d").unwrap());
        for t in [
            "catalog_tables",
            "catalog_table_versions",
            "catalog_partitions",
            "catalog_functions",
        ] {
            assert_eq!(rows(&db, t), 0, "{t} rows outlived their database");
        }
        assert!(s.database(&b, "d").unwrap().is_some());
    }

    pub(super) fn tables_keep_versions_and_check_the_expected_one(kind: Kind) {
        let db = Db::new(kind);
        let t = tenant("111111111111");
        let s = &db.store;
        assert_eq!(
            s.insert_table(&t, "d", &table("t", "x")).unwrap(),
            Insert::NoParent
        );
        populated(&db, &t);
        assert_eq!(
            s.insert_table(&t, "d", &table("t", "x")).unwrap(),
            Insert::Exists
        );
        let current = s.table(&t, "d", "t").unwrap().unwrap();
        assert_eq!(current.version_id.as_deref(), Some("2"));
        assert_eq!(current.parameters.unwrap()["marker"], "v2");

        assert_eq!(
            s.update_table(&t, "d", &table("t", "stale"), Some(1), true)
                .unwrap(),
            TableWrite::Conflict(2)
        );
        assert_eq!(
            s.update_table(&t, "d", &table("ghost", "x"), None, true)
                .unwrap(),
            TableWrite::NotFound
        );
        assert_eq!(
            s.update_table(&t, "d", &table("t", "v3"), None, false)
                .unwrap(),
            TableWrite::Done(3)
        );
        let versions: Vec<(i64, String)> = s
            .table_versions(&t, "d", "t", None, 10)
            .unwrap()
            .into_iter()
            .map(|(v, tb)| (v, tb.parameters.unwrap()["marker"].clone()))
            .collect();
        assert_eq!(
            versions,
            [(3, "v3".to_string()), (1, "v1".to_string())],
            "skip-archive replaced v2"
        );
        assert_eq!(
            s.table_versions(&t, "d", "t", Some(3), 10).unwrap().len(),
            1
        );

        for n in ["alpha", "beta", "gamma"] {
            s.insert_table(&t, "d", &table(n, n)).unwrap();
        }
        let names = |after, limit, keep: &(dyn Fn(&str) -> bool + Sync)| -> Vec<String> {
            s.tables(&t, "d", after, limit, keep)
                .unwrap()
                .into_iter()
                .map(|x| x.name)
                .collect()
        };
        assert_eq!(names(None, 10, &|_| true), ["alpha", "beta", "gamma", "t"]);
        assert_eq!(names(Some("alpha"), 2, &|_| true), ["beta", "gamma"]);
        assert_eq!(names(None, 2, &|n| n.contains('a')), ["alpha", "beta"]);

        let gone = s.delete_table(&t, "d", "t").unwrap().unwrap();
        assert_eq!(gone.name, "t");
        assert!(s.delete_table(&t, "d", "t").unwrap().is_none());
        assert_eq!(
            s.partitions(&t, "d", "t", None, 10, &|_| true)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            s.insert_table(&t, "d", &table("t", "again")).unwrap(),
            Insert::Done
        );
        assert_eq!(s.table_versions(&t, "d", "t", None, 10).unwrap().len(), 1);
    }

    /// Listings longer than a store's read batch: pages are full, in order and complete, and a
    /// selective filter finds matches far apart (tables, partitions, functions).
    pub(super) fn long_listings_page_across_read_batches(kind: Kind) {
        let db = Db::new(kind);
        let t = tenant("111111111111");
        let s = &db.store;
        populated(&db, &t);
        let names: Vec<String> = (0..700).map(|i| format!("n{i:04}")).collect();
        let parts: Vec<Partition> = names.iter().map(|n| partition(&[n, "x"])).collect();
        assert!(
            s.insert_partitions(&t, "d", "t", &parts)
                .unwrap()
                .iter()
                .all(|i| *i == Insert::Done)
        );
        for n in &names {
            assert_eq!(
                s.insert_table(&t, "d", &table(n, "v")).unwrap(),
                Insert::Done
            );
            assert_eq!(
                s.insert_function(&t, "d", &function(n)).unwrap(),
                Insert::Done
            );
        }
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s.tables(&t, "d", after.as_deref(), 97, &|_| true).unwrap();
            assert!(page.len() == 97 || page.len() < 97 && paged.len() + page.len() == 701);
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            paged.extend(page.into_iter().map(|x| x.name));
        }
        let mut want = names.clone();
        want.push("t".into());
        assert_eq!(paged, want, "every table once, in order");
        let rare = |n: &str| n.ends_with("00");
        let tables = s.tables(&t, "d", None, 3, &rare).unwrap();
        let got: Vec<&str> = tables.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(got, ["n0000", "n0100", "n0200"]);
        let tail = s.tables(&t, "d", Some("n0200"), 10, &rare).unwrap();
        assert_eq!(tail.len(), 4, "n0300 … n0600");
        let functions = s.functions(&t, Some("d"), None, 3, &rare).unwrap();
        let got: Vec<&str> = functions
            .iter()
            .filter_map(|f| f.function_name.as_deref())
            .collect();
        assert_eq!(got, ["n0000", "n0100", "n0200"]);
        let rare_parts = s
            .partitions(&t, "d", "t", None, 5, &|v| v[0].ends_with("50"))
            .unwrap();
        let got: Vec<&str> = rare_parts
            .iter()
            .map(|(_, p)| p.values.as_ref().unwrap()[0].as_str())
            .collect();
        assert_eq!(got, ["n0050", "n0150", "n0250", "n0350", "n0450"]);
        let all = s.partitions(&t, "d", "t", None, 1000, &|_| true).unwrap();
        assert_eq!(all.len(), 702, "700 and the two populated() made");
    }

    pub(super) fn partitions_by_values(kind: Kind) {
        let db = Db::new(kind);
        let t = tenant("111111111111");
        let s = &db.store;
        populated(&db, &t);
        let mixed = [
            partition(&["2024", "eu"]),
            partition(&["2023", "eu"]),
            partition(&["2023", "eu"]),
        ];
        assert_eq!(
            s.insert_partitions(&t, "d", "t", &mixed).unwrap(),
            vec![Insert::Exists, Insert::Done, Insert::Exists]
        );
        assert_eq!(
            s.insert_partitions(&t, "d", "nope", &mixed[..1]).unwrap(),
            vec![Insert::NoParent]
        );
        assert!(
            s.partition(&t, "d", "t", &values(&["2023", "eu"]))
                .unwrap()
                .is_some()
        );
        assert!(
            s.partition(&t, "d", "t", &values(&["2023"]))
                .unwrap()
                .is_none()
        );

        let all = s.partitions(&t, "d", "t", None, 10, &|_| true).unwrap();
        assert_eq!(all.len(), 3);
        let after_first = s
            .partitions(&t, "d", "t", Some(&all[0].0), 10, &|_| true)
            .unwrap();
        assert_eq!(after_first.len(), 2);
        let eu = s
            .partitions(&t, "d", "t", None, 10, &|v| v[1] == "eu")
            .unwrap();
        assert_eq!(eu.len(), 2);

        let moved = partition(&["2025", "eu"]);
        assert!(
            s.replace_partition(&t, "d", "t", &values(&["2023", "eu"]), &moved)
                .unwrap()
        );
        assert!(
            s.partition(&t, "d", "t", &values(&["2025", "eu"]))
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            s.replace_partition(
                &t,
                "d",
                "t",
                &values(&["2025", "eu"]),
                &partition(&["2024", "us"])
            ),
            Err(StoreError::Duplicate)
        ));
        let removed = s
            .delete_partitions(
                &t,
                "d",
                "t",
                &[values(&["2025", "eu"]), values(&["1999", "x"])],
            )
            .unwrap();
        assert!(removed[0].is_some() && removed[1].is_none());
    }

    pub(super) fn functions_across_databases_and_everything_after_reopen(kind: Kind) {
        let db = Db::new(kind);
        let t = tenant("111111111111");
        populated(&db, &t);
        let s = &db.store;
        s.insert_database(&t, &database("e")).unwrap();
        s.insert_function(&t, "e", &function("g")).unwrap();
        assert_eq!(
            s.insert_function(&t, "d", &function("f")).unwrap(),
            Insert::Exists
        );
        assert_eq!(
            s.insert_function(&t, "zz", &function("f")).unwrap(),
            Insert::NoParent
        );
        let all: Vec<_> = s
            .functions(&t, None, None, 10, &|_| true)
            .unwrap()
            .into_iter()
            .map(|f| f.function_name.unwrap())
            .collect();
        assert_eq!(all, ["f", "g"]);
        assert_eq!(
            s.functions(&t, None, Some(("d", "f")), 10, &|_| true)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            s.functions(&t, Some("e"), None, 10, &|_| true)
                .unwrap()
                .len(),
            1
        );
        let mut changed = function("f");
        changed.class_name = Some("D".into());
        assert!(s.replace_function(&t, "d", "f", &changed).unwrap());
        assert!(s.delete_function(&t, "e", "g").unwrap());
        assert!(!s.delete_function(&t, "e", "g").unwrap());

        let db = db.reopen();
        let s = &db.store;
        assert_eq!(
            s.function(&t, "d", "f")
                .unwrap()
                .unwrap()
                .class_name
                .as_deref(),
            Some("D")
        );
        assert_eq!(
            s.table(&t, "d", "t")
                .unwrap()
                .unwrap()
                .version_id
                .as_deref(),
            Some("2")
        );
        assert_eq!(s.table_versions(&t, "d", "t", None, 10).unwrap().len(), 2);
        assert_eq!(
            s.partitions(&t, "d", "t", None, 10, &|_| true)
                .unwrap()
                .len(),
            2
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the S3 part (`ObjectStore`)

mod objects {
    use super::{Db, Kind};
    use epoxy::store::objects::{
        Bucket, CreatedBucket, DeletedBucket, ListQuery, Listed, ObjectMeta, Part, Stored, Upload,
    };
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::collections::{BTreeMap, HashSet};

    fn bucket(name: &str, account: &str) -> Bucket {
        Bucket {
            name: name.into(),
            account: account.into(),
            region: "us-east-1".into(),
            created_ms: 1,
        }
    }

    fn object(key: &str, blob: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            blob: blob.to_owned(),
            size: key.len() as u64,
            etag: "e".into(),
            content_type: Some("text/plain".into()),
            metadata: [("m".to_string(), "v".to_string())].into(),
            modified_ms: 7,
        }
    }

    fn part(number: i32, blob: &str) -> Part {
        Part {
            number,
            blob: blob.into(),
            size: 5,
            etag: format!("p{number}"),
            modified_ms: 3,
        }
    }

    pub(super) fn buckets_objects_and_uploads(kind: Kind) {
        let db = Db::new(kind);
        let s = &db.store;
        assert_eq!(
            s.create_bucket(&bucket("b", "a1")).unwrap(),
            CreatedBucket::Created
        );
        assert_eq!(
            s.create_bucket(&bucket("b", "a1")).unwrap(),
            CreatedBucket::AlreadyOwnedByYou
        );
        assert_eq!(
            s.create_bucket(&bucket("b", "a2")).unwrap(),
            CreatedBucket::AlreadyExists
        );
        assert_eq!(
            s.bucket("b").unwrap(),
            Some(bucket("b", "a1")),
            "the owner is kept"
        );
        s.create_bucket(&bucket("a", "a1")).unwrap();
        let names: Vec<String> = s
            .buckets("a1")
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(s.buckets("a2").unwrap().is_empty());

        assert_eq!(
            s.put_object("b", &object("k", "blob1")).unwrap(),
            Stored::Stored { replaced: None }
        );
        assert_eq!(
            s.put_object("b", &object("k", "blob2")).unwrap(),
            Stored::Stored {
                replaced: Some("blob1".into())
            }
        );
        assert_eq!(s.object("b", "k").unwrap(), Some(object("k", "blob2")));
        assert_eq!(
            s.put_object("gone", &object("k", "x")).unwrap(),
            Stored::Gone
        );
        assert_eq!(s.delete_bucket("b").unwrap(), DeletedBucket::NotEmpty);

        let upload = Upload {
            id: "u1".into(),
            bucket: "b".into(),
            key: "big".into(),
            content_type: None,
            metadata: BTreeMap::new(),
            created_ms: 4,
        };
        assert!(s.create_upload(&upload).unwrap());
        assert!(
            !s.create_upload(&Upload {
                id: "u2".into(),
                bucket: "gone".into(),
                ..upload.clone()
            })
            .unwrap()
        );
        assert_eq!(s.upload("b", "u1").unwrap(), Some(upload.clone()));
        assert_eq!(
            s.upload("a", "u1").unwrap(),
            None,
            "an upload belongs to its bucket"
        );
        assert_eq!(
            s.uploads("b", "bi", 10).unwrap(),
            std::slice::from_ref(&upload)
        );
        assert!(s.uploads("b", "k", 10).unwrap().is_empty());
        assert_eq!(
            s.put_part("u1", &part(2, "p2")).unwrap(),
            Stored::Stored { replaced: None }
        );
        assert_eq!(
            s.put_part("u1", &part(1, "p1a")).unwrap(),
            Stored::Stored { replaced: None }
        );
        assert_eq!(
            s.put_part("u1", &part(1, "p1b")).unwrap(),
            Stored::Stored {
                replaced: Some("p1a".into())
            }
        );
        assert_eq!(s.put_part("nope", &part(1, "x")).unwrap(), Stored::Gone);
        assert_eq!(s.parts("u1").unwrap(), [part(1, "p1b"), part(2, "p2")]);
        let referenced = s.referenced_blobs().unwrap();
        assert_eq!(
            referenced,
            HashSet::from(["blob2".into(), "p1b".into(), "p2".into()])
        );

        let mut unused = s
            .complete_upload("b", "u1", &object("big", "whole"))
            .unwrap()
            .expect("live upload");
        unused.sort();
        assert_eq!(unused, ["p1b", "p2"]);
        assert_eq!(
            s.complete_upload("b", "u1", &object("big", "again"))
                .unwrap(),
            None
        );
        assert_eq!(s.object("b", "big").unwrap(), Some(object("big", "whole")));
        assert!(s.parts("u1").unwrap().is_empty());

        s.create_upload(&Upload {
            id: "u3".into(),
            ..upload
        })
        .unwrap();
        s.put_part("u3", &part(1, "p3")).unwrap();
        assert_eq!(s.abort_upload("u3").unwrap(), Some(vec!["p3".to_string()]));
        assert_eq!(s.abort_upload("u3").unwrap(), None);

        assert_eq!(s.delete_object("b", "k").unwrap(), Some("blob2".into()));
        assert_eq!(s.delete_object("b", "k").unwrap(), None);
        assert_eq!(s.delete_object("b", "big").unwrap(), Some("whole".into()));
        assert_eq!(s.delete_bucket("b").unwrap(), DeletedBucket::Deleted);
        assert_eq!(s.delete_bucket("b").unwrap(), DeletedBucket::Missing);
        assert!(s.referenced_blobs().unwrap().is_empty());
    }

    /// S3's listing, computed the slow obvious way: sorted keys under the prefix, delimited
    /// ones rolled up.
    fn model(keys: &[String], prefix: &str, delimiter: Option<&str>) -> Vec<String> {
        let mut sorted: Vec<&String> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        sorted.dedup();
        let mut out: Vec<String> = Vec::new();
        for key in sorted {
            let rest = &key[prefix.len()..];
            let entry = match delimiter.and_then(|d| rest.find(d).map(|at| (d, at))) {
                Some((d, at)) => format!("{prefix}{}", &rest[..at + d.len()]),
                None => key.clone(),
            };
            if out.last() != Some(&entry) {
                out.push(entry);
            }
        }
        out
    }

    /// Paged listings (prefix, delimiter, any page size) match the model, in byte order.
    pub(super) fn paged_listing_matches_the_model(kind: Kind) {
        let db = Db::new(kind);
        let store = &db.store;
        let case = std::sync::atomic::AtomicUsize::new(0);
        let strategy = (
            prop::collection::vec("[ab/é]{1,5}", 1..40),
            "[ab/]{0,2}",
            prop::option::of(prop::sample::select(vec!["/", "b", "é"])),
            1usize..5,
        );
        let mut runner = TestRunner::new(Config {
            cases: 48,
            ..Config::default()
        });
        runner
            .run(&strategy, |(keys, prefix, delimiter, limit)| {
                let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("b{n}");
                store.create_bucket(&bucket(&name, "a")).unwrap();
                for key in &keys {
                    store.put_object(&name, &object(key, key)).unwrap();
                }
                let mut listed = Vec::new();
                let mut after: Option<Vec<u8>> = None;
                loop {
                    let page = store
                        .list_objects(ListQuery {
                            bucket: &name,
                            prefix: &prefix,
                            delimiter,
                            after: after.as_deref(),
                            limit,
                        })
                        .unwrap();
                    prop_assert!(page.entries.len() <= limit);
                    listed.extend(page.entries.into_iter().map(|e| match e {
                        Listed::Object(o) => o.key,
                        Listed::CommonPrefix(p) => p,
                    }));
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                prop_assert_eq!(listed, model(&keys, &prefix, delimiter));
                Ok(())
            })
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// both stores, side by side

/// Ids whose order differs between byte order and most locale collations (case, punctuation,
/// digits, non-ASCII), several per CreatedOn so the id breaks ties.
fn collation_sensitive_ids() -> Vec<(i64, String)> {
    let ids = [
        "a", "B", "b", "A", "_x", "-x", "x-", "x_", "é", "e", "Z9", "z10", "a.b", "a-b", "ab",
        "a b", "ß", "É", "0", "10", "9", "~", "ａ",
    ];
    ids.iter()
        .enumerate()
        .map(|(i, id)| ((i / 4) as i64, id.to_string()))
        .collect()
}

#[test]
fn pages_and_tokens_are_identical_across_stores() {
    use epoxy::sessions::token::{Position, TokenSigner};
    let stores = [Db::new(Kind::Sqlite), Db::new(Kind::Postgres)];
    let t = alice();
    for db in &stores {
        for (i, (created_ms, id)) in collation_sensitive_ids().iter().enumerate() {
            let tags: &[(&str, &str)] = if i % 3 == 0 {
                &[("team", "x"), ("env", "dev")]
            } else {
                &[("team", "x")]
            };
            db.insert(&t, id, *created_ms, tags);
        }
    }
    let signer = TokenSigner::new(b"one secret for both".to_vec());
    for (filter, limit) in [
        (vec![], 4),
        (vec![("team", "x")], 5),
        (vec![("env", "dev"), ("team", "x")], 2),
    ] {
        let tags = tag_map(&filter);
        let [sqlite, postgres] = stores.each_ref().map(|db| {
            db.pages(&t, &tags, limit)
                .iter()
                .map(|page| {
                    let last = page.last().expect("pages are never empty");
                    let position = Position {
                        c: last.created_ms,
                        i: last.id.clone(),
                    };
                    let ids: Vec<String> = page.iter().map(|s| s.id.clone()).collect();
                    (ids, signer.issue("scope", &position))
                })
                .collect::<Vec<_>>()
        });
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite, postgres,
            "filter {filter:?}: pages or tokens differ"
        );
        let all: Vec<String> = sqlite.iter().flat_map(|(ids, _)| ids.clone()).collect();
        let mut sorted = all.clone();
        sorted.sort_by_key(|id| {
            let (c, _) = collation_sensitive_ids()
                .into_iter()
                .find(|(_, i)| i == id)
                .unwrap();
            (c, id.as_bytes().to_vec())
        });
        assert_eq!(all, sorted, "pages are in (CreatedOn, id bytes) order");
    }
}

// ---------------------------------------------------------------------------------------------
// nodes: leases, ownership, fenced writes

mod nodes {
    use super::*;
    use epoxy::sessions::model::Owner;
    use epoxy::store::nodes::{Fence, NodeRegistration, OwnerWrite};

    fn register(db: &Db, node: &str, capacity: usize) {
        db.store
            .register_node(NodeRegistration {
                node_id: node,
                advertise_url: &format!("http://{node}:4747"),
                capacity,
                started_ms: 1,
                metastore: (node != "b").then(|| format!("{node}:9083")).as_deref(),
            })
            .expect("register");
    }

    /// Inserts session `id` for `node` to run, refused past `live_limit` live sessions.
    fn insert_owned(
        store: &dyn Store,
        t: &Tenant,
        id: &str,
        node: &str,
        live_limit: Option<usize>,
    ) -> Result<Session, StoreError> {
        store.insert_session(NewSession {
            tenant: t,
            id,
            spec: &spec(id),
            timeout: 10,
            tags: &BTreeMap::new(),
            created_ms: 1,
            owner: Some(node),
            live_limit,
        })
    }

    fn owned_by(db: &Db, t: &Tenant, id: &str, node: &str) -> Session {
        let session = insert_owned(&*db.store, t, id, node, None).expect("insert");
        assert_eq!(
            session.owner,
            Owner {
                node: Some(node.into()),
                epoch: 1
            }
        );
        assert_eq!(session.home_node.as_deref(), Some(node));
        session
    }

    fn fence(session: &Session) -> Fence {
        Fence {
            key: session.key,
            node: session.owner.node.clone().unwrap(),
            epoch: session.owner.epoch,
        }
    }

    pub fn live_nodes_count_their_live_sessions(kind: Kind) {
        let db = Db::new(kind);
        register(&db, "a", 4);
        register(&db, "b", 2);
        let t = alice();
        owned_by(&db, &t, "s1", "a");
        let s2 = owned_by(&db, &t, "s2", "a");
        db.move_to(s2.key, Stopping, 2).unwrap();
        let s3 = owned_by(&db, &t, "s3", "b");
        db.move_to(s3.key, Failed, 2).unwrap();
        let nodes = db.store.live_nodes(60_000).unwrap();
        let load: Vec<(&str, i64, i64)> = nodes
            .iter()
            .map(|n| (n.node_id.as_str(), n.capacity, n.live_sessions))
            .collect();
        assert_eq!(load, [("a", 4, 2), ("b", 2, 0)]);
        let metastores: Vec<Option<&str>> = nodes.iter().map(|n| n.metastore.as_deref()).collect();
        assert_eq!(
            metastores,
            [Some("a:9083"), None],
            "each node's metastore, if it has one"
        );
        assert_eq!(
            db.store.node_url("b").unwrap().as_deref(),
            Some("http://b:4747")
        );
        assert_eq!(db.store.node_url("nobody").unwrap(), None);
        assert!(db.store.heartbeat("a").unwrap());
        assert!(
            !db.store.heartbeat("nobody").unwrap(),
            "an unknown node must register"
        );
    }

    pub fn an_expired_lease_orphans_live_sessions_only(kind: Kind) {
        let db = Db::new(kind);
        register(&db, "a", 4);
        let t = alice();
        let live = owned_by(&db, &t, "live", "a");
        let ended = owned_by(&db, &t, "ended", "a");
        db.move_to(ended.key, Failed, 2).unwrap();
        let unowned = db.insert(&t, "unowned", 3, &[]);
        let orphans = |lease_ms| -> Vec<String> {
            let mut ids: Vec<String> = db
                .store
                .orphaned_sessions(lease_ms)
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            orphans(60_000),
            ["unowned"],
            "a live node's sessions are its own"
        );
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        assert_eq!(
            orphans(1_000),
            ["live", "unowned"],
            "past the lease they are orphans"
        );
        assert!(db.store.heartbeat("a").unwrap());
        assert_eq!(orphans(1_000), ["unowned"], "a heartbeat renews the lease");
        let _ = (live, unowned);
    }

    pub fn claims_are_compare_and_swap_on_the_epoch(kind: Kind) {
        let db = Db::new(kind);
        register(&db, "a", 4);
        register(&db, "b", 4);
        let t = alice();
        let s = owned_by(&db, &t, "s", "a");
        // A live owner keeps its session: nobody else may claim it.
        assert_eq!(
            db.store
                .claim_session(s.key, &s.owner, "b", 60_000)
                .unwrap(),
            None
        );
        // The owner itself may (a restart): the epoch goes up.
        let again = db
            .store
            .claim_session(s.key, &s.owner, "a", 60_000)
            .unwrap()
            .unwrap();
        assert_eq!((again.node.as_str(), again.epoch), ("a", 2));
        // A claim naming the old hold loses.
        assert_eq!(
            db.store
                .claim_session(s.key, &s.owner, "a", 60_000)
                .unwrap(),
            None
        );
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        assert!(db.store.heartbeat("b").unwrap());
        let held = Owner {
            node: Some("a".into()),
            epoch: 2,
        };
        let taken = db
            .store
            .claim_session(s.key, &held, "b", 1_000)
            .unwrap()
            .unwrap();
        assert_eq!((taken.node.as_str(), taken.epoch), ("b", 3));
        let now = db.get(&t, "s").unwrap();
        assert_eq!(
            now.owner,
            Owner {
                node: Some("b".into()),
                epoch: 3
            }
        );
        assert_eq!(
            now.home_node.as_deref(),
            Some("b"),
            "a PROVISIONING session provisions again at its new owner"
        );
        // A READY one keeps its home: its driver and log stay where they were.
        let r = owned_by(&db, &t, "r", "a");
        db.move_to(r.key, Ready, 2).unwrap();
        let r_owner = db.get(&t, "r").unwrap().owner;
        let taken = db
            .store
            .claim_session(r.key, &r_owner, "b", 1_000)
            .unwrap()
            .unwrap();
        assert_eq!(taken.epoch, 2);
        assert_eq!(db.get(&t, "r").unwrap().home_node.as_deref(), Some("a"));
    }

    pub fn owner_writes_are_fenced_by_the_epoch(kind: Kind) {
        let db = Db::new(kind);
        register(&db, "a", 4);
        let t = alice();
        let s = owned_by(&db, &t, "s", "a");
        let old = fence(&s);
        let applied = db
            .store
            .owner_writes(
                &old,
                5,
                &[
                    OwnerWrite::Transition {
                        to: Ready,
                        message: None,
                    },
                    OwnerWrite::Transition {
                        to: Provisioning,
                        message: None,
                    },
                    OwnerWrite::Touch,
                ],
            )
            .unwrap();
        assert_eq!(
            applied,
            [true, false, true],
            "each write says whether it applied"
        );
        let id = db.store.insert_statement(s.key, "1+1").unwrap().unwrap();
        let new = db
            .store
            .claim_session(s.key, &db.get(&t, "s").unwrap().owner, "a", 60_000)
            .unwrap()
            .unwrap();
        let output = ok_output("2");
        let refused = db.store.owner_writes(
            &old,
            6,
            &[
                OwnerWrite::Statement {
                    id,
                    from: &[StatementState::Waiting],
                    update: StatementUpdate::Running { at_ms: 6 },
                },
                OwnerWrite::FinishPending {
                    state: StatementState::Error,
                    output: &output,
                },
                OwnerWrite::Transition {
                    to: Failed,
                    message: Some("stale"),
                },
            ],
        );
        assert!(matches!(refused, Err(StoreError::Fenced)), "{refused:?}");
        let after = db.get(&t, "s").unwrap();
        assert_eq!(
            (after.status, after.error_message),
            (Ready, None),
            "a fenced write changes nothing"
        );
        assert_eq!(
            db.store.statement(s.key, id).unwrap().unwrap().state,
            StatementState::Waiting
        );
        // The new hold writes; all of a batch or nothing.
        let applied = db
            .store
            .owner_writes(
                &new,
                7,
                &[
                    OwnerWrite::Statement {
                        id,
                        from: &[StatementState::Waiting],
                        update: StatementUpdate::Running { at_ms: 7 },
                    },
                    OwnerWrite::Statement {
                        id,
                        from: &[StatementState::Running],
                        update: StatementUpdate::Finished {
                            state: StatementState::Available,
                            output: &output,
                            at_ms: 8,
                        },
                    },
                    OwnerWrite::DriverRecord(None),
                ],
            )
            .unwrap();
        assert_eq!(applied, [true, true, true]);
        assert_eq!(
            db.store.statement(s.key, id).unwrap().unwrap().state,
            StatementState::Available
        );
    }

    fn insert_limited(
        store: &dyn Store,
        t: &Tenant,
        id: &str,
        limit: usize,
    ) -> Result<Session, StoreError> {
        insert_owned(store, t, id, "a", Some(limit))
    }

    pub fn the_live_limit_counts_provisioning_and_ready_only(kind: Kind) {
        let db = Db::new(kind);
        let t = alice();
        let first = insert_limited(&*db.store, &t, "l1", 2).unwrap();
        insert_limited(&*db.store, &t, "l2", 2).unwrap();
        let refused = insert_limited(&*db.store, &t, "l3", 2);
        assert!(
            matches!(refused, Err(StoreError::LiveLimit(2))),
            "{refused:?}"
        );
        assert!(
            db.get(&t, "l3").is_none(),
            "a refused insert stores nothing"
        );
        db.move_to(first.key, Stopping, 2).unwrap();
        insert_limited(&*db.store, &t, "l3", 2).expect("a STOPPING session no longer counts");
    }

    /// Nodes admitting at once count in turn: the limit holds across stores on one database.
    pub fn the_live_limit_holds_across_racing_nodes() {
        let db = Db::new(Kind::Postgres);
        let nodes = db.nodes(4);
        let t = alice();
        let admitted: usize = std::thread::scope(|scope| {
            let racers: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(n, node)| {
                    let t = &t;
                    scope.spawn(move || {
                        (0..5)
                            .filter(|i| match insert_limited(node, t, &format!("r{n}-{i}"), 7) {
                                Ok(_) => true,
                                Err(StoreError::LiveLimit(7)) => false,
                                Err(e) => panic!("a racer failed: {e}"),
                            })
                            .count()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert_eq!(admitted, 7, "exactly the limit is admitted");
        assert_eq!(db.count("sessions"), 7);
    }

    pub fn owned_sessions_say_what_the_owner_must_do(kind: Kind) {
        let db = Db::new(kind);
        register(&db, "a", 4);
        let t = alice();
        let s = owned_by(&db, &t, "s", "a");
        db.move_to(s.key, Ready, 2).unwrap();
        let other = owned_by(&db, &t, "other", "b");
        let first = db.store.insert_statement(s.key, "1").unwrap().unwrap();
        let second = db.store.insert_statement(s.key, "2").unwrap().unwrap();
        db.store
            .update_statement(
                s.key,
                first,
                &[StatementState::Waiting],
                StatementUpdate::Running { at_ms: 3 },
            )
            .unwrap();
        db.store
            .update_statement(
                s.key,
                first,
                &[StatementState::Running],
                StatementUpdate::Cancelling,
            )
            .unwrap();
        let owned = db.store.owned_sessions("a").unwrap();
        assert_eq!(owned.len(), 1, "only a's sessions");
        assert_eq!(owned[0].session.id, "s");
        assert!(owned[0].waiting);
        assert_eq!(owned[0].cancelling, Some(first));
        assert!(!owned[0].has_driver);
        let _ = (second, other);
        // An ended session stays listed while its driver is recorded (a driver to stop).
        db.move_to(s.key, Timeout, 4).unwrap();
        assert!(db.store.owned_sessions("a").unwrap().is_empty());
        db.store
            .set_driver_record(
                s.key,
                Some(&DriverRecord {
                    pid: 1,
                    start_ticks: 1,
                    socket: "/tmp/x.sock".into(),
                    secret: "s".into(),
                    token: "t".into(),
                    spark_ui_port: None,
                    metastore_user: None,
                    tcp: None,
                    host: String::new(),
                }),
                5,
            )
            .unwrap();
        let owned = db.store.owned_sessions("a").unwrap();
        assert_eq!((owned.len(), owned[0].has_driver), (1, true));
    }
}

// ---------------------------------------------------------------------------------------------
// every case, on each store

/// One `#[test]` per case and store, named `<store>::<case>`.
macro_rules! on_both_stores {
    ($($case:path => $name:ident),* $(,)?) => {
        mod sqlite {
            use super::Kind;
            $(#[test]
            fn $name() {
                $case(Kind::Sqlite)
            })*
        }
        mod postgres {
            use super::Kind;
            $(#[test]
            fn $name() {
                $case(Kind::Postgres)
            })*
        }
    };
}

on_both_stores! {
    super::objects::buckets_objects_and_uploads => objects_buckets_objects_and_uploads,
    super::objects::paged_listing_matches_the_model => objects_paged_listing_matches_the_model,
    super::inserted_session_reads_back => inserted_session_reads_back,
    super::duplicate_id_is_refused_and_changes_nothing => duplicate_id_is_refused_and_changes_nothing,
    super::tenants_are_isolated => tenants_are_isolated,
    super::paging_1200_sessions_is_complete_and_ordered => paging_1200_sessions_is_complete_and_ordered,
    super::paging_survives_inserts_and_deletes_between_pages => paging_survives_inserts_and_deletes_between_pages,
    super::tag_filters_are_and_and_pages_are_full => tag_filters_are_and_and_pages_are_full,
    super::transitions_follow_the_state_machine => transitions_follow_the_state_machine,
    super::ready_and_stop_stamp_their_times => ready_and_stop_stamp_their_times,
    super::live_sessions_and_timeouts => live_sessions_and_timeouts,
    super::too_many_tags_roll_back => too_many_tags_roll_back,
    super::insert_with_too_many_tags_stores_nothing => insert_with_too_many_tags_stores_nothing,
    super::remove_tags_removes_only_named_keys => remove_tags_removes_only_named_keys,
    super::statements_only_on_ready_sessions_numbered_per_session => statements_only_on_ready_sessions_numbered_per_session,
    super::statement_updates_are_guarded => statement_updates_are_guarded,
    super::finish_pending_ends_only_unfinished_statements => finish_pending_ends_only_unfinished_statements,
    super::deleting_a_session_deletes_its_tags_and_statements => deleting_a_session_deletes_its_tags_and_statements,
    super::driver_records_follow_their_session => driver_records_follow_their_session,
    super::drivers_are_found_by_their_metastore_credential => drivers_are_found_by_their_metastore_credential,
    super::a_credential_is_stored_with_its_session_tenancy => a_credential_is_stored_with_its_session_tenancy,
    super::credentials_are_minted_for_live_sessions_only => credentials_are_minted_for_live_sessions_only,
    super::a_session_end_ends_its_credentials => a_session_end_ends_its_credentials,
    super::revoking_all_credentials_spares_only_the_already_revoked => revoking_all_credentials_spares_only_the_already_revoked,
    super::everything_survives_a_reopen => everything_survives_a_reopen,
    super::catalog::databases_are_per_tenant_paged_and_cascade_on_delete => catalog_databases_are_per_tenant_paged_and_cascade_on_delete,
    super::catalog::tables_keep_versions_and_check_the_expected_one => catalog_tables_keep_versions_and_check_the_expected_one,
    super::catalog::partitions_by_values => catalog_partitions_by_values,
    super::catalog::long_listings_page_across_read_batches => catalog_long_listings_page_across_read_batches,
    super::catalog::functions_across_databases_and_everything_after_reopen => catalog_functions_across_databases_and_everything_after_reopen,
    super::nodes::live_nodes_count_their_live_sessions => nodes_live_nodes_count_their_live_sessions,
    super::nodes::an_expired_lease_orphans_live_sessions_only => nodes_an_expired_lease_orphans_live_sessions_only,
    super::nodes::claims_are_compare_and_swap_on_the_epoch => nodes_claims_are_compare_and_swap_on_the_epoch,
    super::nodes::owner_writes_are_fenced_by_the_epoch => nodes_owner_writes_are_fenced_by_the_epoch,
    super::nodes::owned_sessions_say_what_the_owner_must_do => nodes_owned_sessions_say_what_the_owner_must_do,
    super::nodes::the_live_limit_counts_provisioning_and_ready_only => nodes_the_live_limit_counts_provisioning_and_ready_only,
}

#[test]
fn the_live_limit_holds_across_racing_postgres_nodes() {
    nodes::the_live_limit_holds_across_racing_nodes();
}

/// Several stores on one PostgreSQL database, as several nodes will be: racing writers get
/// exactly one winner per id, statement ids stay dense and unique, and the tag limit holds.
#[test]
fn racing_postgres_stores_keep_the_invariants() {
    let db = Db::new(Kind::Postgres);
    let nodes = db.nodes(4);
    let t = alice();
    let winners: usize = std::thread::scope(|scope| {
        let racers: Vec<_> = nodes
            .iter()
            .flat_map(|node| [node, node])
            .map(|node| {
                let t = &t;
                scope.spawn(move || {
                    let spec = spec("same");
                    let tags = BTreeMap::new();
                    match node.insert_session(NewSession {
                        tenant: t,
                        id: "same",
                        spec: &spec,
                        timeout: 10,
                        tags: &tags,
                        created_ms: 1,
                        owner: Some("a"),
                        live_limit: None,
                    }) {
                        Ok(_) => 1,
                        Err(StoreError::Duplicate) => 0,
                        Err(e) => panic!("a racer failed: {e}"),
                    }
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).sum()
    });
    assert_eq!(winners, 1, "exactly one CreateSession of one id wins");

    let key = db.get(&t, "same").expect("the winner's session").key;
    db.move_to(key, Ready, 2).unwrap();
    let mut ids: Vec<i64> = std::thread::scope(|scope| {
        let writers: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            node.insert_statement(key, &format!("print({i})"))
                                .unwrap()
                                .expect("READY")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    ids.sort();
    assert_eq!(
        ids,
        (0..40).collect::<Vec<i64>>(),
        "statement ids are 0.. without gaps or repeats"
    );

    let start = std::sync::Barrier::new(nodes.len());
    std::thread::scope(|scope| {
        for (n, node) in nodes.iter().enumerate() {
            let start = &start;
            scope.spawn(move || {
                // 4 × 20 distinct keys at once against a limit of 50: some calls must fail.
                start.wait();
                let _ = node.add_tags(key, &numbered_tags(&format!("n{n}-"), 20));
            });
        }
    });
    assert!(
        db.tags(key).len() <= epoxy::store::MAX_TAGS,
        "{} tags stored",
        db.tags(key).len()
    );
}
