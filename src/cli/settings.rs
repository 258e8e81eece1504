//! The configuration file: analysis thresholds (and, for the dashboard, key bindings
//! live in their own file). Missing file = defaults; a bad file is an error naming it.

use crate::config::AnalysisConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub analysis: AnalysisConfig,
    /// `[alarms]`: alarm management (priorities, deadbands, delays, chattering, floods);
    /// applied to `analysis.alarms` on load.
    pub alarms: Option<crate::config::AlarmConfig>,
    /// `[aws]`: backend, profile, region, endpoint_url, table, bucket, function, log_group.
    pub aws: super::aws_args::AwsSettings,
    /// `[optimize]`: targets, battery, flexibility, reverse-flow limit, tariff.
    pub optimize: crate::optimize::OptimizeConfig,
    /// `[dashboard]`: theme and mouse (the flags win).
    pub dashboard: DashboardSettings,
}

/// The `[dashboard]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// `dark` (default), `light` or `high-contrast`.
    #[cfg(feature = "tui")]
    pub theme: Option<crate::tui::theme::Palette>,
    /// `true` captures the mouse (wheel, click a tab or a row).
    pub mouse: Option<bool>,
    /// `[[dashboard.sources]]`: backends the dashboard switches between with `:source NAME`.
    pub sources: Vec<SourceSettings>,
}

/// One `[[dashboard.sources]]` entry: a name, and the local data folder or the AWS
/// settings of that backend (as in `[aws]`; unset ones fall back to `[aws]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub backend: super::aws_args::BackendKind,
    /// Local backend: the data folder (default: the dashboard's).
    pub data_dir: Option<PathBuf>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub table: Option<String>,
    pub bucket: Option<String>,
    pub function: Option<String>,
    pub log_group: Option<String>,
}

impl DashboardSettings {
    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.sources {
            let name = s.name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("[[dashboard.sources]] name {:?}: give each source a name without spaces", s.name));
            }
            if !seen.insert(name) {
                return Err(format!("[[dashboard.sources]] name {name:?} is used twice"));
            }
            if s.backend == super::aws_args::BackendKind::Aws && s.data_dir.is_some() {
                return Err(format!("[[dashboard.sources]] {name}: data_dir is for backend = \"local\""));
            }
        }
        Ok(())
    }
}

impl Settings {
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("gridwatch").join("config.toml"))
    }

    /// `explicit` must exist; the default path is optional.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match Self::default_path() {
                Some(p) => (p, false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => anyhow::bail!("cannot read config file {}: {e}", path.display()),
        };
        let mut settings: Settings =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        if let Some(alarms) = settings.alarms.take() {
            settings.analysis.alarms = alarms;
        }
        settings.analysis.validate().map_err(|e| anyhow::anyhow!("config file {}: [analysis] {e}", path.display()))?;
        settings.optimize.validate().map_err(|e| anyhow::anyhow!("config file {}: [optimize] {e}", path.display()))?;
        settings.dashboard.validate().map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_thresholds_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "[analysis]\nnominal_frequency_hz = 50.0\nvoltage_low_kv = 13.4\n").unwrap();
        let s = Settings::load(Some(&good)).unwrap();
        assert_eq!((s.analysis.nominal_frequency_hz, s.analysis.voltage_low_kv), (50.0, 13.4));
        assert_eq!(s.analysis.voltage_high_kv, 14.1, "unset values keep their defaults");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[analysis]\nvoltage_low_kv = 15.0\n").unwrap();
        let err = Settings::load(Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("voltage_low_kv"), "{err}");

        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[analysis]\nvoltage_lo_kv = 13.0\n").unwrap();
        assert!(Settings::load(Some(&typo)).unwrap_err().to_string().contains("typo.toml"));
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[cfg(feature = "tui")]
    #[test]
    fn dashboard_table_sets_theme_and_mouse() {
        use crate::tui::theme::Palette;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[dashboard]\ntheme = \"high-contrast\"\nmouse = true\n").unwrap();
        let s = Settings::load(Some(&p)).unwrap();
        assert_eq!((s.dashboard.theme, s.dashboard.mouse), (Some(Palette::HighContrast), Some(true)));
        assert_eq!(Settings::default().dashboard, DashboardSettings::default());
        std::fs::write(&p, "[dashboard]\ntheme = \"solarized\"\n").unwrap();
        let e = Settings::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("solarized"), "{e}");
    }

    #[test]
    fn dashboard_sources_are_named_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let two = "[[dashboard.sources]]\nname = \"local\"\n\n[[dashboard.sources]]\nname = \"prod\"\nbackend = \"aws\"\nprofile = \"prod\"\nendpoint_url = \"http://127.0.0.1:5000\"\n";
        std::fs::write(&p, two).unwrap();
        let s = Settings::load(Some(&p)).unwrap();
        assert_eq!(s.dashboard.sources.len(), 2);
        assert_eq!(s.dashboard.sources[1].backend, super::super::aws_args::BackendKind::Aws);
        assert_eq!(s.dashboard.sources[1].profile.as_deref(), Some("prod"));
        for (bad, why) in [
            ("[[dashboard.sources]]\nname = \"a\"\n[[dashboard.sources]]\nname = \"a\"\n", "twice"),
            ("[[dashboard.sources]]\nname = \"\"\n", "name"),
            ("[[dashboard.sources]]\nname = \"a\"\nbackend = \"aws\"\ndata_dir = \"/x\"\n", "data_dir"),
            ("[[dashboard.sources]]\nname = \"a\"\nregoin = \"x\"\n", "regoin"),
        ] {
            std::fs::write(&p, bad).unwrap();
            let e = Settings::load(Some(&p)).unwrap_err().to_string();
            assert!(e.contains("c.toml") && e.contains(why), "{why}: {e}");
        }
    }
}
