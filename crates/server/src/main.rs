//! The `legami` command: `serve`, `migrate`, `seed demo`, `openapi`.

use clap::{Parser, Subcommand};
use legami_server::{Application, Settings, open_database, telemetry};

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
}

#[derive(Subcommand)]
enum SeedWhat {
    /// The demo data drawn from the project's source texts (idempotent).
    Demo,
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
    actix_web::rt::System::new().block_on(run(cli))
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
        Command::Openapi => {}
    }
    Ok(())
}
