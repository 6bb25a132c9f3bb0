//! Configuration in two steps: [`RawConfig`] as read from a TOML file and `VPP_*`
//! environment variables, then [`RawConfig::validate`] into a typed [`Config`] with the
//! documented defaults.
//!
//! | key | env | default |
//! | --- | --- | --- |
//! | `listen` | `VPP_LISTEN` | `127.0.0.1:50051` |
//! | `metrics_listen` | `VPP_METRICS_LISTEN` | `127.0.0.1:9464` (`off` disables) |
//! | `web_listen` (the page and `/api/v1`) | `VPP_WEB_LISTEN` | off (`off` disables) |
//! | `plant` | `VPP_PLANT` | `models/xinyang.toml` |
//! | `database` | `VPP_DATABASE` | `vpp.sqlite` (a SQLite file; a `postgres://` or `postgresql://` URL selects PostgreSQL) |
//! | `max_message_bytes` | | 4 MiB |
//! | `[market] interval_minutes` | | 60 |
//! | `[market] gate_closure_hours_before` | | 14 (10:00 the day before) |
//! | `[market] price_floor`, `price_cap` | | 50, 1200 yuan/MWh (Henan spot) |
//! | `[solver] max_concurrent`, `max_queued`, `time_limit_s` | | cores, 4 × cores, 120 |
//! | `[solver] warm_start_shapes` (LP shapes whose latest basis starts later solves; 0: every solve cold) | | 512 |
//! | `[solver] warm_starts_in_store` (keep those bases in the store too, so a restart or another replica starts warm) | | true |
//! | `[meters] interval_minutes` | | 15 (every reading on this grid) |
//! | `[tls] cert`, `key` (PEM files) | `VPP_TLS_CERT`, `VPP_TLS_KEY` | off |
//! | `[mqtt] url` (meter readings from a broker: `mqtt://host:port`, plain TCP) | `VPP_MQTT_URL` (`off` disables) | off; `mqtt://127.0.0.1:1883` in an `[mqtt]` section without it |
//! | `[mqtt] topic` (readings on `{topic}/{quantity}/{meter}`) | | `vpp/meters` |
//! | `[mqtt] client_id` (the broker keeps the bridge's session under it: one per process) | | `vpp-dispatch` |
//! | `[[token]] token, role, park, bot, name` | `VPP_TOKENS` (`token=role[:who],…`) | none |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::validation::Collector;
use crate::domain::ValidationErrors;
use crate::mqtt::MqttSettings;
use crate::service::{MarketRules, MeterRules, Principal, SolverLimits};
use crate::store::Database;

/// The configuration as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// gRPC address.
    pub listen: Option<String>,
    /// Metrics address, or `off`.
    pub metrics_listen: Option<String>,
    /// Web page address, or `off` (the default).
    pub web_listen: Option<String>,
    /// Plant file.
    pub plant: Option<PathBuf>,
    /// SQLite file, or a PostgreSQL URL.
    pub database: Option<String>,
    /// Largest request accepted, bytes.
    pub max_message_bytes: Option<usize>,
    /// Market rules.
    #[serde(default)]
    pub market: RawMarket,
    /// Solver bounds.
    #[serde(default)]
    pub solver: RawSolver,
    /// Meter readings.
    #[serde(default)]
    pub meters: RawMeters,
    /// TLS.
    pub tls: Option<RawTls>,
    /// The MQTT bridge (meter readings), off when absent.
    pub mqtt: Option<RawMqtt>,
    /// Bearer tokens.
    #[serde(default, rename = "token")]
    pub tokens: Vec<RawToken>,
}

/// `[market]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMarket {
    /// Minutes per market interval.
    pub interval_minutes: Option<u32>,
    /// Hours before the delivery day's local midnight at which its bids close.
    pub gate_closure_hours_before: Option<f64>,
    /// Lowest limit price.
    pub price_floor: Option<f64>,
    /// Highest limit price.
    pub price_cap: Option<f64>,
}

/// `[meters]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeters {
    /// Minutes per reading interval (15 or 60; divides an hour).
    pub interval_minutes: Option<u32>,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// The broker, `mqtt://host:port`, or `off`.
    pub url: Option<String>,
    /// The topic prefix.
    pub topic: Option<String>,
    /// The client id of the bridge's persistent session.
    pub client_id: Option<String>,
}

/// `[solver]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSolver {
    /// Solves at once.
    pub max_concurrent: Option<usize>,
    /// Solves waiting.
    pub max_queued: Option<usize>,
    /// Default time limit per solve, seconds.
    pub time_limit_s: Option<f64>,
    /// LP shapes whose latest basis is kept for warm starts across requests (0: none).
    pub warm_start_shapes: Option<usize>,
    /// Whether those bases are kept in the store too.
    pub warm_starts_in_store: Option<bool>,
}

/// `[tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// `[[token]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// The bearer token.
    pub token: String,
    /// `operator`, `park_manager`, `bot` or `meter`.
    pub role: String,
    /// The park, for a park manager.
    pub park: Option<String>,
    /// The bot's name, for a bot.
    pub bot: Option<String>,
    /// A name, for an operator.
    pub name: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC address.
    pub listen: SocketAddr,
    /// Metrics address.
    pub metrics_listen: Option<SocketAddr>,
    /// Web page (and its JSON API) address, if enabled.
    pub web_listen: Option<SocketAddr>,
    /// Plant file.
    pub plant: PathBuf,
    /// The store: a SQLite file or a PostgreSQL URL.
    pub database: Database,
    /// Largest request accepted, bytes.
    pub max_message_bytes: usize,
    /// Market rules.
    pub market: MarketRules,
    /// Solver bounds.
    pub limits: SolverLimits,
    /// Meter rules.
    pub meters: MeterRules,
    /// TLS certificate and key.
    pub tls: Option<RawTls>,
    /// The MQTT bridge, if configured.
    pub mqtt: Option<MqttSettings>,
    /// Tokens and who they are.
    pub tokens: Vec<(String, Principal)>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {0}: {1}")]
    Io(String, std::io::Error),
    /// The file is not valid TOML for a config.
    #[error("config file {0} is invalid: {1}")]
    Parse(String, String),
    /// Values are out of range.
    #[error("invalid configuration:\n{0}")]
    Invalid(ValidationErrors),
}

impl RawConfig {
    /// Reads a file (if given), then applies `VPP_*` variables from `env`.
    pub fn load(file: Option<&std::path::Path>, env: impl Fn(&str) -> Option<String>) -> Result<RawConfig, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io(shown.clone(), e))?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse(shown, e.to_string()))?
            }
            None => RawConfig::default(),
        };
        if let Some(v) = env("VPP_LISTEN") {
            raw.listen = Some(v);
        }
        if let Some(v) = env("VPP_METRICS_LISTEN") {
            raw.metrics_listen = Some(v);
        }
        if let Some(v) = env("VPP_WEB_LISTEN") {
            raw.web_listen = Some(v);
        }
        if let Some(v) = env("VPP_PLANT") {
            raw.plant = Some(v.into());
        }
        if let Some(v) = env("VPP_DATABASE") {
            raw.database = Some(v);
        }
        if let (Some(cert), Some(key)) = (env("VPP_TLS_CERT"), env("VPP_TLS_KEY")) {
            raw.tls = Some(RawTls { cert: cert.into(), key: key.into() });
        }
        if let Some(v) = env("VPP_MQTT_URL") {
            raw.mqtt.get_or_insert_with(RawMqtt::default).url = Some(v);
        }
        if let Some(v) = env("VPP_TOKENS") {
            for item in v.split(',').filter(|s| !s.trim().is_empty()) {
                let (token, rest) = item.split_once('=').unwrap_or((item, ""));
                let (role, who) = rest.split_once(':').unwrap_or((rest, ""));
                let who = (!who.is_empty()).then(|| who.to_string());
                raw.tokens.push(RawToken {
                    token: token.trim().to_string(),
                    role: role.trim().to_string(),
                    park: who.clone().filter(|_| role == "park_manager"),
                    bot: who.clone().filter(|_| role == "bot"),
                    name: who.filter(|_| role == "operator" || role == "meter"),
                });
            }
        }
        Ok(raw)
    }

    /// Checks every value and applies the defaults.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let mut c = Collector::default();
        let addr = |c: &mut Collector, field: &str, v: Option<String>, default: &str| -> Option<SocketAddr> {
            let v = v.unwrap_or_else(|| default.to_string());
            if v == "off" {
                return None;
            }
            match v.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    c.push(field, format!("'{v}' is not an address host:port"));
                    None
                }
            }
        };
        let listen = addr(&mut c, "listen", self.listen, "127.0.0.1:50051");
        let metrics_listen = addr(&mut c, "metrics_listen", self.metrics_listen, "127.0.0.1:9464");
        let web_listen = addr(&mut c, "web_listen", self.web_listen, "off");
        let database = match Database::parse(self.database.as_deref().unwrap_or("vpp.sqlite")) {
            Ok(d) => Some(d),
            Err(problem) => {
                c.push("database", problem);
                None
            }
        };
        let max_message_bytes = self.max_message_bytes.unwrap_or(4 << 20);
        if max_message_bytes < 1024 {
            c.push("max_message_bytes", "must be at least 1024");
        }
        let defaults = MarketRules::default();
        let interval_minutes = self.market.interval_minutes.unwrap_or(defaults.interval_minutes);
        if interval_minutes == 0 || 1440 % interval_minutes != 0 {
            c.push("market.interval_minutes", format!("must divide a day, got {interval_minutes}"));
        }
        let gate_hours = self.market.gate_closure_hours_before.unwrap_or(14.0);
        if c.finite("market.gate_closure_hours_before", gate_hours) && gate_hours < 0.0 {
            c.push("market.gate_closure_hours_before", "must not be negative");
        }
        let price_floor = self.market.price_floor.unwrap_or(defaults.price_floor);
        let price_cap = self.market.price_cap.unwrap_or(defaults.price_cap);
        if c.finite("market.price_floor", price_floor) && c.finite("market.price_cap", price_cap) && price_floor > price_cap {
            c.push("market.price_floor", "must not exceed market.price_cap");
        }
        let lim = SolverLimits::default();
        let max_concurrent = self.solver.max_concurrent.unwrap_or(lim.max_concurrent);
        if max_concurrent == 0 {
            c.push("solver.max_concurrent", "must be at least 1");
        }
        let time_limit = self.solver.time_limit_s.unwrap_or(lim.default_time_limit.as_secs_f64());
        if c.finite("solver.time_limit_s", time_limit) && time_limit <= 0.0 {
            c.push("solver.time_limit_s", "must be positive");
        }
        let meter_interval = self.meters.interval_minutes.unwrap_or(MeterRules::default().interval_minutes);
        if meter_interval == 0 || 60 % meter_interval != 0 {
            c.push("meters.interval_minutes", format!("must divide an hour (15, 30, 60, …), got {meter_interval}"));
        }
        let mqtt = self.mqtt.filter(|m| m.url.as_deref() != Some("off")).and_then(|m| {
            let url = m.url.unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
            let broker = MqttSettings::parse_url(&url).map_err(|p| c.push("mqtt.url", p)).ok();
            let topic = m.topic.unwrap_or_else(|| "vpp/meters".into());
            let topic_ok = MqttSettings::check_topic(&topic).map_err(|p| c.push("mqtt.topic", p)).is_ok();
            let client_id = m.client_id.unwrap_or_else(|| "vpp-dispatch".into());
            let id_ok = MqttSettings::check_client_id(&client_id).map_err(|p| c.push("mqtt.client_id", p)).is_ok();
            let (host, port) = broker.filter(|_| topic_ok && id_ok)?;
            Some(MqttSettings { host, port, topic, client_id })
        });
        let mut tokens = Vec::new();
        for (k, t) in self.tokens.into_iter().enumerate() {
            let f = format!("token[{k}]");
            if t.token.len() < 8 {
                c.push(format!("{f}.token"), "must be at least 8 characters");
            }
            let principal = match (t.role.as_str(), t.park, t.bot) {
                ("operator", None, None) => Principal::Operator { name: t.name.unwrap_or_default() },
                ("park_manager", Some(park), None) => Principal::ParkManager { park },
                ("meter", None, None) => Principal::Meter { name: t.name.unwrap_or_default() },
                ("bot", None, Some(bot)) if !bot.is_empty() && !bot.contains(['/', '#']) => Principal::Bot { bot },
                ("bot", None, Some(_)) => {
                    c.push(format!("{f}.bot"), "a bot name must be non-empty, without '/' or '#'");
                    continue;
                }
                (role, ..) => {
                    c.push(
                        format!("{f}.role"),
                        format!("'{role}' needs: operator or meter (no park, no bot), park_manager with park, or bot with bot"),
                    );
                    continue;
                }
            };
            tokens.push((t.token, principal));
        }
        c.finish().map_err(ConfigError::Invalid)?;
        Ok(Config {
            listen: listen.unwrap_or_else(|| ([127, 0, 0, 1], 50051).into()),
            metrics_listen,
            web_listen,
            plant: self.plant.unwrap_or_else(|| "models/xinyang.toml".into()),
            database: database.unwrap_or_else(|| Database::Sqlite("vpp.sqlite".into())),
            max_message_bytes,
            market: MarketRules {
                interval_minutes,
                gate_closure_before: chrono::Duration::milliseconds((gate_hours * 3_600_000.0) as i64),
                price_floor,
                price_cap,
            },
            limits: SolverLimits {
                max_concurrent,
                max_queued: self.solver.max_queued.unwrap_or(lim.max_queued),
                default_time_limit: Duration::from_secs_f64(time_limit.max(0.001)),
                warm_start_shapes: self.solver.warm_start_shapes.unwrap_or(lim.warm_start_shapes),
                warm_starts_in_store: self.solver.warm_starts_in_store.unwrap_or(lim.warm_starts_in_store),
            },
            meters: MeterRules { interval_minutes: meter_interval },
            tls: self.tls,
            mqtt,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut raw: RawConfig = toml::from_str(text).expect("TOML");
        if let Some((_, url)) = env.iter().find(|(k, _)| *k == "VPP_MQTT_URL") {
            raw.mqtt.get_or_insert_with(RawMqtt::default).url = Some(url.to_string());
        }
        raw.validate()
    }

    #[test]
    fn mqtt_is_off_unless_configured_and_has_defaults() {
        assert_eq!(validated("", &[]).unwrap().mqtt, None);
        let m = validated("[mqtt]\n", &[]).unwrap().mqtt.unwrap();
        assert_eq!((m.host.as_str(), m.port, m.topic.as_str(), m.client_id.as_str()), ("127.0.0.1", 1883, "vpp/meters", "vpp-dispatch"));
        let m = validated("", &[("VPP_MQTT_URL", "mqtt://broker:1884")]).unwrap().mqtt.unwrap();
        assert_eq!((m.host.as_str(), m.port), ("broker", 1884));
        assert_eq!(validated("[mqtt]\nurl = \"off\"\n", &[]).unwrap().mqtt, None);
    }

    #[test]
    fn mqtt_problems_are_named() {
        let Err(ConfigError::Invalid(e)) = validated("[mqtt]\nurl = \"mqtts://b:8883\"\ntopic = \"vpp/#\"\nclient_id = \"a b\"\n", &[])
        else {
            panic!("refused")
        };
        let text = e.to_string();
        for field in ["mqtt.url", "mqtt.topic", "mqtt.client_id"] {
            assert!(text.contains(field), "{field} in {text}");
        }
        assert!(toml::from_str::<RawConfig>("[mqtt]\nhost = \"x\"\n").is_err(), "unknown keys are refused");
    }
}
