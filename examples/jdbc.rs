//! A pool of JDBC connections to an in-memory H2 database, shared by a few threads.
//!
//! Needs a JVM and Debian's H2 jar (`apt-get install default-jre-headless libh2-java`, or
//! `. scripts/jdbc.sh && ensure_jdbc_drivers`); another jar can be named as the first argument.
//!
//!     cargo run --features jdbc --example jdbc [/path/to/h2.jar]

use std::error::Error;
use std::time::{Duration, Instant};

use millpond::{Pool, jdbc, sql::Params};

fn main() -> Result<(), Box<dyn Error>> {
    let jar = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/share/java/h2.jar".to_owned());
    let began = Instant::now();
    // The JVM starts with the first connect; DB_CLOSE_DELAY keeps the database while the pool
    // has no connection open.
    let manager = jdbc::h2("mem:pond;DB_CLOSE_DELAY=-1").jar(jar).user("sa");
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(0)
        .timeout(Duration::from_secs(10))
        .build(manager)?;

    let mut conn = pool.get()?;
    println!("connected to {} in {:?}", conn.server_version()?, began.elapsed());
    conn.execute(
        "CREATE TABLE ducks (id INT PRIMARY KEY, name VARCHAR(40), weight DECIMAL(6, 3), seen DATE)",
        (),
    )?;
    drop(conn);

    // Eight threads, four connections: named parameters, bound (never spliced into the SQL).
    let workers: Vec<_> = (0..8)
        .map(|id| {
            let pool = pool.clone();
            std::thread::spawn(move || -> Result<(), Box<dyn Error + Send + Sync>> {
                let mut conn = pool.get()?;
                conn.execute(
                    "INSERT INTO ducks VALUES (:id, :name, :weight, CURRENT_DATE)",
                    Params::named([("id", millpond::sql::Value::from(id))])
                        .and("name", format!("duck {id}"))
                        .and("weight", millpond::sql::Value::decimal(format!("1.{id:03}"))?),
                )?;
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .expect("worker panicked")
            .map_err(|e| e as Box<dyn Error>)?;
    }

    // A transaction: committed, or rolled back when dropped.
    let mut conn = pool.get()?;
    let mut tx = conn.transaction()?;
    tx.execute("UPDATE ducks SET weight = weight + 1 WHERE id < ?", [4])?;
    tx.commit()?;

    for row in conn.query("SELECT id, name, weight, seen FROM ducks ORDER BY id", ())? {
        println!(
            "{:>2} {:<8} {:>6} kg, seen {}",
            row.get::<i64>("id")?,
            row.get::<String>("name")?,
            row.get::<String>("weight")?,
            row.get::<millpond::sql::Date>("seen")?,
        );
    }
    let total: String = conn.query_scalar("SELECT sum(weight) FROM ducks", ())?;
    println!("total weight {total} kg; {}", pool.state());
    Ok(())
}
