//! A PostgreSQL database of a test's own that the test can take away (no new connections,
//! existing ones killed) and give back, to stage an outage.

use sqlx::Connection;

pub struct OutageDatabase {
    admin: sqlx::PgConnection,
    name: String,
    /// Connection URL of the database.
    pub dsn: String,
}

impl OutageDatabase {
    /// A fresh database named `<prefix>_<pid>`; `None` without `OTELCONTEXT_TEST_POSTGRES_URL`.
    pub async fn create(prefix: &str) -> Option<Self> {
        let url = otelcontext_postgres::testing::test_url()?;
        let name = format!("{prefix}_{}", std::process::id());
        let admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        let mut db = Self { admin, dsn: format!("{base}/{name}"), name };
        db.run(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name)).await;
        db.run(format!("CREATE DATABASE {}", db.name)).await;
        Some(db)
    }

    async fn run(&mut self, sql: String) {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut self.admin).await.unwrap();
    }

    /// The database goes away: new connections are refused, open ones terminated.
    pub async fn take_away(&mut self) {
        self.run(format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.name)).await;
        self.run(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", self.name))
            .await;
    }

    /// It comes back.
    pub async fn give_back(&mut self) {
        self.run(format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.name)).await;
    }

    /// Drops the database (after the server using it is gone).
    pub async fn drop_database(mut self) {
        self.run(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}
