//! The gateway's shared state, built once from the configuration, and its background tasks
//! (catalog refresh, policy reload, reload of the upstream MCP servers when the config file's
//! `mcp_servers:` change, rate-limit sweeping, key expiry metrics).

use std::sync::Arc;
use std::time::Duration;

use mcp_gateway_auth::{Authenticator, KeyStore};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::catalog::CatalogService;
use crate::config::Config;
use crate::federation::Federation;
use crate::mcp::session::SessionKeys;
use crate::observe::AuditLog;
use crate::policy::PolicyStore;
use crate::ratelimit::{Limiter, LocalLimiter, RedisLimiter};
use crate::upstream::Upstreams;

pub struct Gateway {
    pub config: Config,
    pub auth: Arc<Authenticator>,
    pub keys: Option<Arc<KeyStore>>,
    pub policy: Arc<PolicyStore>,
    pub catalog: Arc<CatalogService>,
    pub upstreams: Arc<Upstreams>,
    /// Upstream MCP servers whose tools are federated (`mcp_servers:`).
    pub federation: Arc<Federation>,
    pub limiter: Limiter,
    /// Budgets of requests in flight and bytes buffered, per caller and in all.
    pub admission: crate::http::Admission,
    pub sessions: SessionKeys,
    pub audit: AuditLog,
    pub metrics: Option<PrometheusHandle>,
    /// Set when the process was told to stop or hand over (SIGTERM, SIGQUIT): from then on every
    /// response closes its connection, so no client reuses an idle keep-alive connection just as
    /// the process drops it.
    draining: std::sync::atomic::AtomicBool,
    /// Set once the drain delay after SIGTERM is over: new MCP requests are refused (503).
    closing: std::sync::atomic::AtomicBool,
    /// Flipped when `shutdown_timeout` passes with calls still running: they are answered
    /// with a clear error instead of being cut by the process exit.
    cut: tokio::sync::watch::Sender<bool>,
    /// The config file, watched for changes of its `mcp_servers:` section (see
    /// [`Self::watching_config`]); other settings apply at the next start.
    config_file: Option<std::path::PathBuf>,
}

impl Gateway {
    /// Builds the gateway from a validated configuration. Fails on anything that would make it
    /// unable to serve correctly (policy, key store, session key, audit file).
    pub fn build(config: Config, metrics: Option<PrometheusHandle>) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let policy = PolicyStore::load(&config.policy)?;
        let keys = match &config.keys {
            Some(k) => Some(
                KeyStore::open(&k.dir)
                    .with_context(|| format!("opening the key store {}", k.dir.display()))?,
            ),
            None => None,
        };
        let auth = Authenticator::new(config.oidc.clone(), keys.clone())
            .context("configuring authentication")?;
        let upstreams = Arc::new(Upstreams::new(&config.sandboxes, &config.upstream)?);
        let federation = Arc::new(
            Federation::new(&config.mcp_servers)
                .context("setting up the upstream MCP servers")?
                .every(config.catalog.refresh.get()),
        );
        let catalog = Arc::new(CatalogService::with_federation(
            upstreams.clone(),
            federation.clone(),
            config.catalog.block_changed_definitions,
            config
                .upstream
                .connect_timeout
                .get()
                .max(Duration::from_secs(2)),
        ));
        let ttl = config.session.ttl.get().as_secs();
        let sessions = match &config.session.secret_file {
            Some(path) => {
                let current = SessionKeys::read_key(path)?;
                let previous = config
                    .session
                    .previous_secret_file
                    .as_deref()
                    .map(SessionKeys::read_key)
                    .transpose()?;
                SessionKeys::new(current, previous, ttl)
            }
            None => {
                tracing::warn!(
                    "no session.secret_file configured: session ids are signed with a random key and \
                     will not survive a restart or work across replicas"
                );
                SessionKeys::random(ttl)
            }
        };
        let limiter = match &config.rate_limit_store {
            Some(store) => Limiter::Redis(Box::new(RedisLimiter::new(&store.redis)?)),
            None => Limiter::Local(LocalLimiter::new()),
        };
        let audit = AuditLog::open(&config.audit)
            .with_context(|| format!("opening the audit log {}", config.audit.output))?;
        Ok(Self {
            admission: crate::http::Admission::new(config.limits.clone()),
            config,
            auth: Arc::new(auth),
            keys,
            policy,
            catalog,
            upstreams,
            federation,
            limiter,
            sessions,
            audit,
            metrics,
            draining: std::sync::atomic::AtomicBool::new(false),
            closing: std::sync::atomic::AtomicBool::new(false),
            cut: tokio::sync::watch::Sender::new(false),
            config_file: None,
        })
    }

    /// Watches `path` (the file the configuration was loaded from) and applies changes of its
    /// `mcp_servers:` section without a restart ([`crate::federation::reload`]).
    pub fn watching_config(mut self, path: &std::path::Path) -> Self {
        self.config_file = Some(path.to_owned());
        self
    }

    /// Reads the config file again and makes its `mcp_servers:` the list of upstream servers,
    /// then refreshes the catalog so their tools appear or disappear at once. An invalid file
    /// is rejected (logged, counted) and the servers in force stay.
    pub async fn reload_servers(&self) {
        let Some(path) = &self.config_file else {
            return;
        };
        let rejected = |e: &dyn std::fmt::Display| {
            metrics::counter!("mcp_config_reloads_total", "result" => "rejected").increment(1);
            tracing::error!(path = %path.display(), error = %e,
                "config change rejected; the upstream MCP servers in force stay");
        };
        let config = match Config::load(path, std::env::vars()) {
            Ok(c) => c,
            Err(e) => return rejected(&e),
        };
        match self.federation.reload(&config.mcp_servers) {
            Ok(s) if s.is_unchanged() => {
                tracing::info!(path = %path.display(),
                    "config file changed; mcp_servers unchanged (other settings apply at the next start)");
            }
            Ok(s) => {
                metrics::counter!("mcp_config_reloads_total", "result" => "ok").increment(1);
                tracing::info!(added = ?s.added, changed = ?s.changed, removed = ?s.removed,
                    kept = ?s.kept, "upstream MCP servers reloaded");
                self.refresh_catalog().await;
            }
            Err(e) => rejected(&e),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks the process as draining (see [`Self::is_draining`]).
    pub fn start_draining(&self) {
        if !self
            .draining
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            tracing::info!("draining: responses now close their connections");
        }
    }

    /// Stops admitting new MCP requests (they get 503 and go to another replica).
    pub fn stop_admitting(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Answers every call still running with a clear error (the shutdown timeout passed).
    pub fn cut_in_flight(&self) {
        self.cut.send_replace(true);
    }

    /// Resolves once [`Self::cut_in_flight`] was called.
    pub async fn cut(&self) {
        let mut rx = self.cut.subscribe();
        let _ = rx.wait_for(|cut| *cut).await;
    }

    /// Ready to serve: not draining, and a sandbox answers.
    pub fn is_ready(&self) -> bool {
        !self.is_draining() && self.upstreams.targets().iter().any(|t| t.is_healthy())
    }

    /// Runs the periodic work until the process ends.
    pub async fn run_background(self: Arc<Self>) {
        // The watcher stops when dropped: it lives as long as this loop.
        let _key_watcher = self.keys.as_ref().map(|keys| {
            let w = keys.spawn_watcher();
            // Catch key files written between the first load and the watch starting.
            keys.reload();
            w
        });
        if let Err(e) = self.auth.refresh_keys().await {
            tracing::warn!(error = %e, "cannot fetch the OIDC signing keys yet; will retry");
        }
        let _jwks_refresh = self.auth.spawn_key_refresh();
        let _policy_watch = self.policy.watch(Duration::from_secs(1));
        // A change of the config file is handled in this loop, so a reload and a catalog
        // refresh never run at once (a refresh begun before the reload is followed by another).
        let config_changed = Arc::new(tokio::sync::Notify::new());
        let _config_watch = self.config_file.as_ref().map(|path| {
            let changed = config_changed.clone();
            let tracker =
                mcp_filewatch::Tracker::new(vec![path.clone()], mcp_filewatch::Settle::Immediately);
            mcp_filewatch::Watch::on_change(tracker)
                .poll(Some(Duration::from_secs(1)))
                .spawn(move |_| {
                    changed.notify_one();
                    std::future::ready(())
                })
        });
        let mut catalog_tick = tokio::time::interval(self.config.catalog.refresh.get());
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut minute = tokio::time::interval(Duration::from_secs(60));
        // Key metrics are exported at start, every minute, and within a second of any reload
        // of the key directory, so a new or rotated key shows up at once.
        self.export_key_metrics();
        let mut key_reloads = self.key_reloads();
        loop {
            tokio::select! {
                _ = catalog_tick.tick() => self.refresh_catalog().await,
                () = config_changed.notified() => self.reload_servers().await,
                _ = second.tick() => {
                    self.export_idp_health();
                    let reloads = self.key_reloads();
                    if reloads != key_reloads {
                        key_reloads = reloads;
                        self.export_key_metrics();
                    }
                    // A sandbox found unready between refreshes is re-probed every second, so
                    // recovery does not wait for the next full refresh.
                    if self.upstreams.targets().iter().any(|t| !t.is_healthy()) {
                        self.refresh_catalog().await;
                    }
                }
                _ = minute.tick() => {
                    self.limiter.sweep();
                    self.export_key_metrics();
                }
            }
        }
    }

    /// Refreshes the catalog and audits every tool whose definition changed since it was pinned.
    pub async fn refresh_catalog(&self) {
        for change in self.catalog.refresh().await {
            self.audit
                .write_event(&crate::observe::audit::DefinitionChangeRecord {
                    kind: "tool_definition_changed",
                    timestamp: crate::observe::audit::now_rfc3339(),
                    tool: &change.tool,
                    sandbox: &change.sandbox,
                    blocked: change.blocked,
                });
        }
    }

    /// `mcp_idp_up{issuer}`: 1 while the identity provider's signing keys are cached and the
    /// last fetch of them succeeded, else 0 (the `KeycloakDown` alert fires on it); and the
    /// time of the last successful fetch.
    fn export_idp_health(&self) {
        let Some(oidc) = &self.config.oidc else {
            return;
        };
        let state = self.auth.jwks_state();
        let up = state.is_ready() && !state.is_failing();
        let issuer = oidc.issuer.clone();
        metrics::gauge!("mcp_idp_up", "issuer" => issuer.clone()).set(if up { 1.0 } else { 0.0 });
        if let Some(t) = state
            .last_success
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        {
            metrics::gauge!("mcp_idp_last_success_timestamp_seconds", "issuer" => issuer)
                .set(t.as_secs_f64());
        }
    }

    /// Reloads of the key directory so far (0 without a key store).
    fn key_reloads(&self) -> u64 {
        self.keys.as_ref().map_or(0, |k| k.stats().reloads_total)
    }

    /// `mcp_api_key_expiry_timestamp{key_id,user}` for every key that expires, and the key
    /// store's health (keys in force, invalid files, reloads).
    pub fn export_key_metrics(&self) {
        let Some(keys) = &self.keys else { return };
        let stats = keys.stats();
        metrics::gauge!("mcp_api_keys").set(stats.keys as f64);
        metrics::gauge!("mcp_api_key_invalid_files").set(stats.invalid_files as f64);
        metrics::counter!("mcp_api_key_reloads_total").absolute(stats.reloads_total);
        metrics::counter!("mcp_api_key_reload_errors_total").absolute(stats.reload_errors_total);
        for record in keys.records() {
            // Revoked keys can no longer expire "soon", and rotated ones are being replaced:
            // both are left out of the gauge (APIKeyExpiringSoon is about keys in force).
            if record.revoked.is_some() || record.replaced_by.is_some() {
                continue;
            }
            if let Some(expires) = record.expires {
                let id = record.id.as_str().to_owned();
                metrics::gauge!("mcp_api_key_expiry_timestamp", "key_id" => id, "user" => record.user.clone())
                    .set(expires.unix_timestamp() as f64);
            }
        }
    }
}
