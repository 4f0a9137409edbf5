//! The command line, accepted as the reference's Go `flag` package accepts it (spec
//! config-and-lifecycle §2.2, endpoints §6): `-name` and `--name` alike, string values
//! as `-name v` or `-name=v`, booleans as `-name` or `-name=false`, parsing stops at the
//! first non-flag argument. Unknown flags and `-h`/`-help` end the process with the
//! terminal exit code, usage on stderr.

use std::ffi::OsString;

use clap::{ArgAction, CommandFactory, Parser};

use crate::logging::{LogLevel, LogSettings};

/// Flags that take a value (`-loglevel debug`); every other flag is a boolean.
const VALUE_FLAGS: [&str; 3] = ["loglevel", "loglevel-driver", "loglevel-on-instance"];

#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "ecs-agent",
    about = "Amazon ECS container agent",
    disable_help_flag = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Print the licenses and exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub license: bool,

    /// Print the agent version and exit.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub version: bool,

    /// Query the local introspection endpoint; exit 0 if it answers, 1 otherwise.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub healthcheck: bool,

    /// Log level for both stdout and the log file (debug, info, warn, error, crit, none).
    #[arg(long, value_name = "LEVEL")]
    pub loglevel: Option<String>,

    /// Log level for stdout; used only when -loglevel is not given.
    #[arg(long = "loglevel-driver", value_name = "LEVEL")]
    pub loglevel_driver: Option<String>,

    /// Log level for the log file; used only when -loglevel is not given.
    #[arg(long = "loglevel-on-instance", value_name = "LEVEL")]
    pub loglevel_on_instance: Option<String>,

    /// Disable TLS certificate verification for calls to the ECS backend.
    #[arg(long = "k", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub accept_insecure_cert: bool,

    /// Make every EC2 instance metadata call fail.
    #[arg(long = "blackhole-ec2-metadata", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub blackhole_ec2_metadata: bool,

    /// Print the registration capabilities as name<TAB>value and exit.
    #[arg(long = "ecs-attributes", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub ecs_attributes: bool,

    /// Run as a Windows service (not supported on Linux).
    #[arg(long = "windows-service", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub windows_service: bool,

    /// Print the effective configuration, one setting a line with its source, and exit
    /// (not in the reference agent).
    #[arg(long = "print-config", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub print_config: bool,

    /// Print this usage and exit with the terminal code, as the reference's `-h` does.
    #[arg(long = "help", visible_alias = "h", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", hide_default_value = true, value_name = "true|false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    pub help: bool,

    /// Arguments after the first non-flag argument: ignored, as Go's flag package does.
    #[arg(hide = true)]
    pub ignored: Vec<OsString>,
}

/// Why the command line was refused; both end with the terminal exit code.
#[derive(Debug)]
pub enum CliError {
    /// `-h`/`-help`: the usage text to print on stderr.
    Help(String),
    /// An unknown flag or a bad value.
    Invalid(clap::Error),
}

impl CliError {
    /// The text to print on stderr.
    pub fn message(&self) -> String {
        match self {
            Self::Help(usage) => usage.clone(),
            Self::Invalid(err) => format!("{}\n{}", invalid_message(err), usage()),
        }
    }
}

impl Cli {
    /// Parses `args` (program name first) with Go `flag` conventions.
    pub fn parse_from_go_args<I, T>(args: I) -> Result<Self, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args = normalize_go_args(args.into_iter().map(Into::into));
        let cli = Self::try_parse_from(args).map_err(CliError::Invalid)?;
        if cli.help {
            return Err(CliError::Help(usage()));
        }
        Ok(cli)
    }

    /// The log levels the flags ask for. `-loglevel` sets both outputs; otherwise
    /// `-loglevel-driver` and `-loglevel-on-instance` set one each. Unknown words leave
    /// the level as it was, as the reference's `SetLevel` does, and are returned so the
    /// caller can report them once logging runs.
    pub fn log_level_overrides(&self) -> LevelOverrides {
        let mut overrides = LevelOverrides::default();
        let mut parse = |word: &Option<String>| -> Option<LogLevel> {
            let word = word.as_deref().filter(|w| !w.is_empty())?;
            let level = LogLevel::parse(word);
            if level.is_none() {
                overrides.unknown.push(word.to_string());
            }
            level
        };
        let (driver, instance) = if self.loglevel.as_deref().is_some_and(|w| !w.is_empty()) {
            let both = parse(&self.loglevel);
            (both, both)
        } else {
            (
                parse(&self.loglevel_driver),
                parse(&self.loglevel_on_instance),
            )
        };
        overrides.driver = driver;
        overrides.instance = instance;
        overrides
    }
}

/// Levels from `-loglevel*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelOverrides {
    /// The stdout level.
    pub driver: Option<LogLevel>,
    /// The log file level.
    pub instance: Option<LogLevel>,
    /// Level words that were not recognised.
    pub unknown: Vec<String>,
}

impl LevelOverrides {
    pub fn apply(&self, settings: &mut LogSettings) {
        if let Some(level) = self.driver {
            settings.level = level;
        }
        if let Some(level) = self.instance {
            settings.level_on_instance = level;
        }
    }
}

/// One line saying what is wrong, worded as Go's flag package words it where it can.
fn invalid_message(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(arg.clone()),
        _ => None,
    };
    match (err.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(arg)) => {
            let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
            format!(
                "flag provided but not defined: -{}",
                name.trim_start_matches('-')
            )
        }
        _ => {
            // clap's first paragraph is the error itself; its usage and tips follow.
            let rendered = err.render().to_string();
            let first = rendered.split("\n\n").next().unwrap_or_default();
            first.trim_start_matches("error: ").trim_end().to_string()
        }
    }
}

/// The usage text.
pub fn usage() -> String {
    Cli::command().render_help().to_string()
}

/// Go's `strconv.ParseBool`, which the flag package uses for boolean flags.
fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

/// Rewrites Go-style arguments into the shape clap parses: `-name` becomes `--name`,
/// `-name value` for a value flag becomes `--name=value` (so a value starting with `-`
/// stays a value, as in Go), and everything from the first non-flag argument on (or
/// after `--`) is passed behind `--` to the ignored trailing list.
pub fn normalize_go_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let mut rest: Vec<OsString> = Vec::new();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            // Not UTF-8: not a flag name Go would know either; clap reports it.
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest.extend(args.by_ref());
            break;
        }
        if text.starts_with("---") {
            // Go: "bad flag syntax"; clap refuses it as an unknown flag.
            out.push(arg);
            continue;
        }
        let flag = match text.strip_prefix("--").or_else(|| text.strip_prefix('-')) {
            Some(flag) if !flag.is_empty() => flag,
            // `-` or a non-flag argument: Go stops parsing flags here.
            _ => {
                rest.push(arg);
                rest.extend(args.by_ref());
                break;
            }
        };
        let name = flag.split_once('=').map_or(flag, |(name, _)| name);
        if VALUE_FLAGS.contains(&name) && !flag.contains('=') {
            let mut joined = OsString::from(format!("--{flag}="));
            match args.next() {
                Some(value) => joined.push(value),
                // Go: "flag needs an argument"; clap reports the empty value as missing.
                None => joined = OsString::from(format!("--{flag}")),
            }
            out.push(joined);
        } else {
            out.push(OsString::from(format!("--{flag}")));
        }
    }
    if !rest.is_empty() {
        out.push(OsString::from("--"));
        out.extend(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, CliError> {
        Cli::parse_from_go_args(std::iter::once("ecs-agent").chain(args.iter().copied()))
    }

    #[test]
    fn no_flags_runs_the_agent() {
        let cli = parse(&[]).unwrap();
        assert!(!cli.version && !cli.healthcheck && !cli.print_config && !cli.license);
        assert_eq!(cli.loglevel, None);
    }

    #[test]
    fn single_and_double_dash_are_equivalent() {
        for args in [
            ["-version"],
            ["--version"],
            ["-version=true"],
            ["--version=1"],
        ] {
            assert!(parse(&args).unwrap().version, "{args:?}");
        }
        assert!(!parse(&["-version=false"]).unwrap().version);
        assert!(parse(&["-k"]).unwrap().accept_insecure_cert);
        assert!(parse(&["--k"]).unwrap().accept_insecure_cert);
        assert!(
            parse(&["-blackhole-ec2-metadata"])
                .unwrap()
                .blackhole_ec2_metadata
        );
        assert!(parse(&["-ecs-attributes"]).unwrap().ecs_attributes);
        assert!(parse(&["-windows-service"]).unwrap().windows_service);
        assert!(parse(&["-healthcheck"]).unwrap().healthcheck);
        assert!(parse(&["-license"]).unwrap().license);
        assert!(parse(&["-print-config"]).unwrap().print_config);
        // Repeating a flag is allowed; the last one wins.
        assert!(!parse(&["-k", "-k=false"]).unwrap().accept_insecure_cert);
    }

    #[test]
    fn value_flags_take_the_next_argument_or_equals() {
        let cli = parse(&["-loglevel", "debug"]).unwrap();
        assert_eq!(cli.loglevel.as_deref(), Some("debug"));
        let cli = parse(&["--loglevel=warn", "-loglevel-driver", "-x"]).unwrap();
        assert_eq!(cli.loglevel.as_deref(), Some("warn"));
        assert_eq!(cli.loglevel_driver.as_deref(), Some("-x"));
        assert!(matches!(parse(&["-loglevel"]), Err(CliError::Invalid(_))));
    }

    #[test]
    fn parsing_stops_at_the_first_non_flag() {
        let cli = parse(&["-k", "run", "-version", "--bogus"]).unwrap();
        assert!(cli.accept_insecure_cert);
        assert!(!cli.version);
        assert_eq!(cli.ignored, ["run", "-version", "--bogus"]);
        let cli = parse(&["--", "-version"]).unwrap();
        assert!(!cli.version);
        // A boolean does not take a separate value: `false` is the first non-flag.
        let cli = parse(&["-version", "false"]).unwrap();
        assert!(cli.version);
    }

    #[test]
    fn unknown_flags_bad_values_and_help_are_refused() {
        assert!(matches!(parse(&["-bogus"]), Err(CliError::Invalid(_))));
        assert!(matches!(
            parse(&["--checkpoint"]),
            Err(CliError::Invalid(_))
        ));
        assert!(matches!(
            parse(&["-version=maybe"]),
            Err(CliError::Invalid(_))
        ));
        assert!(matches!(parse(&["---version"]), Err(CliError::Invalid(_))));
        for help in ["-h", "--h", "-help", "--help"] {
            match parse(&[help]) {
                Err(CliError::Help(text)) => assert!(text.contains("loglevel"), "{text}"),
                other => panic!("{help}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_messages_name_the_flag_as_given() {
        let message = |args: &[&str]| match parse(args) {
            Err(err @ CliError::Invalid(_)) => err.message(),
            other => panic!("{args:?}: {other:?}"),
        };
        let text = message(&["-bogus"]);
        assert!(
            text.starts_with("flag provided but not defined: -bogus\n"),
            "{text}"
        );
        assert!(text.contains("Usage: ecs-agent"), "{text}");
        let text = message(&["--bogus=1"]);
        assert!(
            text.starts_with("flag provided but not defined: -bogus\n"),
            "{text}"
        );
        let text = message(&["-version=maybe"]);
        assert!(text.contains("maybe"), "{text}");
    }

    #[test]
    fn loglevel_sets_both_outputs_and_wins_over_the_individual_flags() {
        let cli = parse(&["-loglevel", "DEBUG", "-loglevel-driver", "error"]).unwrap();
        let overrides = cli.log_level_overrides();
        assert_eq!(overrides.driver, Some(LogLevel::Debug));
        assert_eq!(overrides.instance, Some(LogLevel::Debug));

        let cli = parse(&["-loglevel-driver", "crit", "-loglevel-on-instance", "none"]).unwrap();
        let mut settings = LogSettings::default();
        cli.log_level_overrides().apply(&mut settings);
        assert_eq!(settings.level, LogLevel::Critical);
        assert_eq!(settings.level_on_instance, LogLevel::Off);

        let cli = parse(&["-loglevel", "loud"]).unwrap();
        let overrides = cli.log_level_overrides();
        assert_eq!(overrides.driver, None);
        assert_eq!(overrides.unknown, ["loud"]);
    }
}
