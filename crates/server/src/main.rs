//! The `legami` command: `serve`, `migrate`, `seed demo`, `openapi`.

use clap::{Parser, Subcommand};
use legami_server::{Application, Settings, open_database, telemetry};

/// jemalloc instead of glibc's malloc: a server allocates and frees many short-lived buffers
/// on several threads, where glibc keeps per-thread arenas that grow and are seldom returned to
/// the system (resident memory climbed past 400 MiB under metric ingestion), and its
/// allocation paths were a fifth of the CPU time of a CSV export.
///
/// Its options are built in (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`; the
/// `_RJEM_MALLOC_CONF` environment variable overrides each at run time): a background thread
/// returns freed pages to the system after about a second (`dirty_decay_ms:1000`; by default
/// 10 s, and mimalloc, used before, returned a thread's pages only when that thread allocated
/// again, so a burst's memory stayed resident), in full (`muzzy_decay_ms:0`), and no transparent
/// huge pages (`thp:never`), which make every touched 2 MiB resident. Under 64 concurrent metric
/// uploads: 80-91 MiB resident instead of mimalloc's 106-125, at the same rate
/// (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Legami: a public JSON API for community welfare networks.
#[derive(Parser)]
#[command(name = "legami", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (migrates first; loads demo data into an empty database).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load data sets.
    Seed {
        #[command(subcommand)]
        what: SeedWhat,
    },
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Administration.
    Admin {
        #[command(subcommand)]
        what: AdminWhat,
    },
}

#[derive(Subcommand)]
enum AdminWhat {
    /// Create an administrator account (the first one, typically).
    Create {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Password (at least 10 characters); prefer --password-stdin.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[derive(Subcommand)]
enum SeedWhat {
    /// The demo data drawn from the project's source texts (idempotent).
    Demo,
    /// A large deterministic registry for benchmarks: at scale 1, 20,000 organisations, 5,000
    /// labs, 2,000 projects, 400 networks and 1,000,000 metric rows (into a new database).
    Synthetic {
        /// Multiplies every size (0.01 for a quick run; at most 20).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
}

fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        let doc = legami_http::openapi();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    telemetry::init(&cli.settings.log_format, &cli.settings.log);
    if let Command::Seed {
        what: SeedWhat::Synthetic { .. },
    } = cli.command
        && cli.settings.database_url.starts_with("sqlite")
    {
        pin_to_one_core();
    }
    actix_web::rt::System::new().block_on(run(cli))
}

/// Keeps a bulk load into SQLite on one CPU core. The load is a single writer that hands ~20 statements per
/// record to the database driver's worker thread and waits for each answer; with the two threads
/// on different cores every hand-off is a cross-core wake-up (`perf`: ~45 % of the time in the
/// kernel's scheduler), while on one core it is a plain switch: scale 0.25 on SQLite took 12.2-12.6 s
/// pinned against 18.5-20.2 s unpinned. The runtime here is single-threaded and threads started
/// later (the driver's) inherit the pinning; nothing is lost, as SQLite has one writer anyway.
/// (PostgreSQL runs in its own processes, which want the other core: 140-156 s either way.)
fn pin_to_one_core() {
    if let Some(core) = core_affinity::get_core_ids().and_then(|ids| ids.into_iter().next()) {
        core_affinity::set_for_current(core);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command {
        Command::Serve => {
            tracing::info!(?settings, "starting");
            let app = Application::build(&settings).await?;
            let host = settings
                .bind
                .rsplit_once(':')
                .map_or("127.0.0.1", |(h, _)| h);
            let base = format!("http://{host}:{}", app.port());
            tracing::info!("listening on {base}");
            println!("Legami is running: API {base}/api/v1 — docs {base}/docs");
            app.run_until_stopped().await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let db = open_database(&settings).await?;
            let applied = legami_persistence::applied_migrations(&db).await?;
            println!(
                "database is at migration {}",
                applied.last().map_or("(none)", String::as_str)
            );
        }
        Command::Seed {
            what: SeedWhat::Demo,
        } => {
            let db = open_database(&settings).await?;
            let n = legami_server::demo::seed(&db).await?;
            println!("demo data: {n} records added");
        }
        Command::Seed {
            what: SeedWhat::Synthetic { scale },
        } => {
            let db = open_database(&settings).await?;
            let started = std::time::Instant::now();
            let s = legami_server::synthetic::seed(&db, scale).await?;
            println!(
                "synthetic data (scale {scale}): {} organisations, {} labs, {} projects, {} networks, {} metric rows in {:.1} s",
                s.organisations,
                s.labs,
                s.projects,
                s.networks,
                s.metrics,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Admin {
            what:
                AdminWhat::Create {
                    email,
                    password,
                    password_stdin,
                    name,
                },
        } => {
            let password = match (password, password_stdin) {
                (Some(p), false) => p,
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_owned()
                }
                _ => anyhow::bail!("give --password or --password-stdin"),
            };
            if password.chars().count() < 10 {
                anyhow::bail!("the password needs at least 10 characters");
            }
            legami_domain::Email::parse(&email)
                .map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
            let db = open_database(&settings).await?;
            let hash =
                legami_http::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            let user = legami_persistence::accounts::create_user(
                &db,
                &email,
                &name,
                &hash,
                "admin",
                &[],
                &legami_persistence::audit::Actor::system(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("administrator {} created (id {})", user.email, user.id);
        }
        Command::Openapi => {}
    }
    Ok(())
}
