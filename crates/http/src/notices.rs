//! What this instance hears of the others on PostgreSQL: notices of committed writes (the kinds
//! of data they changed, from triggers) and of recent writers (for read-your-writes behind
//! replicas), on a connection of its own (`legami_persistence::notices`).

use crate::cache::{Deps, ResponseCache};
use crate::replicas::Replicas;
use actix_web::web;
use legami_persistence::notices::{WRITER, WriteNotices};
use std::time::Duration;

/// Follows the notices for as long as it runs (the server starts it, and aborts it when it
/// stops): a write's notice drops the cached answers read from its kind, a writer's makes its
/// next reads go to the primary. While the connection is down (and until it first listens) no
/// cached answer is kept or served, since other instances' writes made meanwhile cannot be
/// heard; once it listens again, everything cached before counts as stale. Reconnects with
/// back-off (0.1 s doubling to 5 s). The cache stops serving when this is called, before the
/// first notice is heard.
pub fn follow(
    cache: Option<web::Data<ResponseCache>>,
    replicas: Option<web::Data<Replicas>>,
    url: String,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);
    let heard = cache.clone();
    let hear = move |on: bool| {
        if let Some(c) = &cache {
            c.hear(on);
        }
    };
    hear(false);
    async move {
        let mut wait = FIRST;
        loop {
            match WriteNotices::listen(&url).await {
                Ok(mut notices) => {
                    hear(true);
                    wait = FIRST;
                    tracing::info!("listening for the notices of other instances");
                    let lost = loop {
                        match notices.next().await {
                            Ok(notice) => match notice.strip_prefix(WRITER) {
                                Some(who) => {
                                    if let Some(r) = &replicas {
                                        r.wrote(who);
                                    }
                                }
                                None => {
                                    if let Some(c) = &heard {
                                        c.written(Deps::of_notice(&notice));
                                    }
                                }
                            },
                            Err(e) => break e,
                        }
                    };
                    hear(false);
                    tracing::warn!(error = %lost, "notices lost: the response cache is off until they are heard again");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot listen for notices");
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MOST);
        }
    }
}
