//! Why the embedded backend sits on redb: redb and SQLite measured on the datastore's own shape
//! (a current-value table keyed by key, a log keyed by revision, durable commits).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use redb::{ReadableDatabase, TableDefinition};
use rusqlite::params;

use crate::stats::{Samples, ms};

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const VALUE: [u8; 1024] = [b'v'; 1024];

/// One engine, driven the way the datastore drives it.
trait Engine {
    /// Commits `keys` (each a kv row and a log row) in one durable transaction.
    fn commit(&mut self, first_rev: u64, keys: &[String]) -> anyhow::Result<()>;
    /// Reads every kv row under `prefix`.
    fn scan(&self, prefix: &str) -> anyhow::Result<usize>;
    /// Reads one kv row.
    fn get(&self, key: &str) -> anyhow::Result<bool>;
}

struct Redb(redb::Database, bool);

impl Redb {
    fn open(path: &Path, quick_repair: bool) -> anyhow::Result<Self> {
        let db = redb::Database::builder().set_cache_size(64 << 20).create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.open_table(LOG)?;
        txn.commit()?;
        Ok(Redb(db, quick_repair))
    }
}

impl Engine for Redb {
    fn commit(&mut self, first_rev: u64, keys: &[String]) -> anyhow::Result<()> {
        let mut txn = self.0.begin_write()?;
        txn.set_quick_repair(self.1);
        {
            let mut kv = txn.open_table(KV)?;
            let mut log = txn.open_table(LOG)?;
            for (i, key) in keys.iter().enumerate() {
                kv.insert(key.as_bytes(), &VALUE[..])?;
                log.insert(first_rev + i as u64, &VALUE[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn scan(&self, prefix: &str) -> anyhow::Result<usize> {
        let txn = self.0.begin_read()?;
        let kv = txn.open_table(KV)?;
        let end = format!("{prefix}\u{7f}");
        let mut n = 0;
        for entry in kv.range::<&[u8]>(prefix.as_bytes()..end.as_bytes())? {
            n += entry?.1.value().len().min(1);
        }
        Ok(n)
    }

    fn get(&self, key: &str) -> anyhow::Result<bool> {
        let txn = self.0.begin_read()?;
        Ok(txn.open_table(KV)?.get(key.as_bytes())?.is_some())
    }
}

struct Sqlite(rusqlite::Connection);

impl Sqlite {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        // WAL with synchronous=FULL: every commit is fsynced, like redb's Immediate durability.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, value BLOB NOT NULL);",
        )?;
        Ok(Sqlite(conn))
    }
}

impl Engine for Sqlite {
    fn commit(&mut self, first_rev: u64, keys: &[String]) -> anyhow::Result<()> {
        let txn = self.0.transaction()?;
        {
            let mut kv = txn.prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?;
            let mut log = txn.prepare_cached("INSERT INTO log (rev, value) VALUES (?1, ?2)")?;
            for (i, key) in keys.iter().enumerate() {
                kv.execute(params![key.as_bytes(), &VALUE[..]])?;
                log.execute(params![(first_rev + i as u64) as i64, &VALUE[..]])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn scan(&self, prefix: &str) -> anyhow::Result<usize> {
        let end = format!("{prefix}\u{7f}");
        let mut stmt =
            self.0.prepare_cached("SELECT value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key")?;
        let mut rows = stmt.query(params![prefix.as_bytes(), end.as_bytes()])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            n += row.get_ref(0)?.as_blob()?.len().min(1);
        }
        Ok(n)
    }

    fn get(&self, key: &str) -> anyhow::Result<bool> {
        let mut stmt = self.0.prepare_cached("SELECT 1 FROM kv WHERE key = ?1")?;
        Ok(stmt.exists(params![key.as_bytes()])?)
    }
}

fn open(engine: &str, path: &Path) -> anyhow::Result<Box<dyn Engine>> {
    Ok(match engine {
        "redb" => Box::new(Redb::open(path, false)?),
        "redb-quick-repair" => Box::new(Redb::open(path, true)?),
        "sqlite" => Box::new(Sqlite::open(path)?),
        other => anyhow::bail!("unknown engine {other}"),
    })
}

struct Results {
    commit_p50: Duration,
    commit_p99: Duration,
    batch_rows_per_s: f64,
    scan: Duration,
    reopen_crash: Duration,
}

fn measure(engine: &str, dir: &Path, restart_keys: usize) -> anyhow::Result<Results> {
    let path = dir.join(format!("{engine}.db"));
    let mut e = open(engine, &path)?;
    let mut rev = 1;
    let mut lat = Samples::default();
    for i in 0..1000 {
        let t = Instant::now();
        e.commit(rev, &[format!("/lat/{i:08}")])?;
        lat.push(t.elapsed());
        rev += 1;
    }
    // 256 writers' worth of requests per group commit.
    let t = Instant::now();
    let batches = 100;
    for b in 0..batches {
        let keys: Vec<String> = (0..256)
            .map(|i| format!("/batch/{:08}", (i * 7919 + b * 13) % 1_000_000 + b * 1_000_000))
            .collect();
        e.commit(rev, &keys)?;
        rev += 256;
    }
    let batch_rows_per_s = (batches * 256) as f64 / t.elapsed().as_secs_f64();
    let keys: Vec<String> = (0..10_000).map(|i| format!("/scan/{i:08}")).collect();
    for chunk in keys.chunks(1000) {
        e.commit(rev, chunk)?;
        rev += chunk.len() as u64;
    }
    let t = Instant::now();
    anyhow::ensure!(e.scan("/scan/")? == 10_000);
    let scan = t.elapsed();
    let keys: Vec<String> = (0..restart_keys).map(|i| format!("/restart/{i:08}")).collect();
    for chunk in keys.chunks(1000) {
        e.commit(rev, chunk)?;
        rev += chunk.len() as u64;
    }
    drop(e);

    crate::crash::kill_holder(&["hold-engine".as_ref(), engine.as_ref(), path.as_os_str()])?;
    let t = Instant::now();
    let e = open(engine, &path)?;
    anyhow::ensure!(e.get("/restart/00000000")?);
    let reopen_crash = t.elapsed();
    Ok(Results {
        commit_p50: lat.percentile(50.0),
        commit_p99: lat.percentile(99.0),
        batch_rows_per_s,
        scan,
        reopen_crash,
    })
}

/// Opens the engine, commits once, says READY and waits to be killed.
pub fn hold(engine: &str, path: &Path) -> anyhow::Result<()> {
    let mut e = open(engine, path)?;
    e.commit(u64::MAX / 2, &["/holder".to_string()])?;
    println!("READY");
    loop {
        std::thread::park();
    }
}

pub fn run(scratch: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(scratch)?;
    let root = tempfile::tempdir_in(scratch)?;
    let keys = 150_000;
    let r = measure("redb", root.path(), keys)?;
    let q = measure("redb-quick-repair", root.path(), keys)?;
    let s = measure("sqlite", root.path(), keys)?;
    let mut out = format!(
        "Run `scripts/bench.sh engines`. redb {} vs SQLite {} (rusqlite, WAL, synchronous=FULL); 1 KiB values.\n\n",
        "4",
        rusqlite::version()
    );
    out.push_str("| measure | redb | redb, quick repair | SQLite |\n|---|---|---|---|\n");
    let row = |name: &str, f: &dyn Fn(&Results) -> String| {
        format!("| {name} | {} | {} | {} |\n", f(&r), f(&q), f(&s))
    };
    out.push_str(&row("durable commit of one write, p50", &|x| ms(x.commit_p50)));
    out.push_str(&row("durable commit of one write, p99", &|x| ms(x.commit_p99)));
    out.push_str(&row("group commits of 256 writes, writes/s", &|x| format!("{:.0}", x.batch_rows_per_s)));
    out.push_str(&row("scan of 10,000 keys", &|x| ms(x.scan)));
    out.push_str(&row(&format!("reopen after kill -9, {keys} keys"), &|x| ms(x.reopen_crash)));
    Ok(out)
}
