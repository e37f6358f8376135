//! The kubectl plugin: `kubectl steady status` and `kubectl steady why POD`. kubectl runs any
//! executable named `kubectl-<name>` on the PATH as `kubectl <name>`, so the plugin is the `steady`
//! binary itself under the name `kubectl-steady` (a symlink or a copy); the binary looks at the
//! file name it was started as and parses the plugin's command line instead of its own.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// The executable name kubectl looks for.
pub const PLUGIN_NAME: &str = "kubectl-steady";

/// Whether the process was started as the kubectl plugin (`argv[0]`'s file name is
/// `kubectl-steady`, with or without an `.exe`).
pub fn started_as_plugin(argv0: Option<&OsStr>) -> bool {
    argv0
        .map(Path::new)
        .and_then(Path::file_stem)
        .is_some_and(|stem| stem == PLUGIN_NAME)
}

/// The plugin's command line, as kubectl hands it over (everything after `kubectl steady`).
#[derive(Debug, clap::Parser)]
#[command(
    name = "kubectl steady",
    bin_name = "kubectl steady",
    version,
    about = "See what steady's budgets protect: budgets at a glance, and why a pod can or cannot be disrupted now"
)]
pub struct PluginCli {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// List PodUnavailableBudgets and PodDisruptionBudgets with their counts.
    Status(crate::status::StatusArgs),
    /// Say which budgets guard a pod and whether evicting it now would be allowed.
    Why(crate::why::WhyArgs),
    /// Predict a drain, rollout or scale on the live cluster before doing it.
    Plan(crate::plan::PlanArgs),
}

/// How to reach the cluster: the same flags and defaults as kubectl.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace (default: the context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

impl KubeArgs {
    /// A client and the namespace to work in.
    pub async fn connect(&self) -> Result<(kube::Client, String), PluginError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| PluginError::Config {
                    reason: e.to_string(),
                    hint: format!("check that {} is a readable kubeconfig", path.display()),
                })?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| PluginError::Config {
                        reason: e.to_string(),
                        hint: format!(
                            "check the context and cluster entries of {}",
                            path.display()
                        ),
                    })?
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| PluginError::Config {
                    reason: e.to_string(),
                    hint: "check that the context exists (kubectl config get-contexts)".into(),
                })?,
            None => kube::Config::infer()
                .await
                .map_err(|e| PluginError::Config {
                    reason: e.to_string(),
                    hint: "set KUBECONFIG or pass --kubeconfig".into(),
                })?,
        };
        // kube retries 429 by itself; a refused dry-run eviction is an answer to print, not a
        // condition to wait out.
        config.default_retry = false;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).map_err(|e| PluginError::Config {
            reason: e.to_string(),
            hint: "check the kubeconfig's cluster and user entries".into(),
        })?;
        Ok((client, namespace))
    }
}

/// Why a plugin command could not answer. Each message names the object and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot load the Kubernetes configuration: {reason}; {hint}")]
    Config { reason: String, hint: String },
    #[error("pod {namespace}/{name} not found; check the name and the namespace (-n)")]
    PodNotFound { namespace: String, name: String },
    #[error("cannot {action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode the output: {0}")]
    Encode(String),
}

impl PluginError {
    pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Api { action, source }
    }
}

/// Runs one plugin command; the exit code is success unless the command failed.
pub async fn run(command: PluginCommand) -> Result<std::process::ExitCode, PluginError> {
    let mut out = std::io::stdout().lock();
    match command {
        PluginCommand::Status(args) => crate::status::run(&args, &mut out).await,
        PluginCommand::Why(args) => crate::why::run(&args, &mut out).await,
        PluginCommand::Plan(args) => crate::plan::run(&args, &mut out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_parses_as_the_plugin_names_it() {
        use clap::Parser as _;
        let cli = PluginCli::try_parse_from([
            "kubectl steady",
            "plan",
            "drain",
            "node-1",
            "node-2",
            "--parallel",
            "2",
            "--timeout",
            "1h 30m",
            "-o",
            "json",
        ])
        .unwrap();
        let PluginCommand::Plan(args) = cli.command else {
            panic!("not plan");
        };
        let crate::plan::PlanOp::Drain {
            nodes,
            parallel,
            common,
        } = args.op
        else {
            panic!("not drain");
        };
        assert_eq!(nodes, ["node-1", "node-2"]);
        assert_eq!(parallel, 2);
        assert_eq!(common.timeout.map(|d| d.0), Some(5_400_000));
        assert_eq!(common.output, crate::plan::Format::Json);
        let e = PluginCli::try_parse_from([
            "kubectl steady",
            "plan",
            "drain",
            "n",
            "--timeout",
            "5 weeks",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not a duration"), "{e}");
        // Negative values reach the value's own check, not clap's "unexpected argument".
        for (args, says) in [
            ("drain n --timeout -5s", "negative"),
            ("scale deploy/web --replicas -1", "-1 is negative"),
            ("drain n --parallel -2", "-2 is negative"),
            ("scale deploy/web --replicas 5000000000", "too large"),
        ] {
            let args = ["kubectl steady", "plan"]
                .into_iter()
                .chain(args.split(' '));
            let e = PluginCli::try_parse_from(args)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
        }
        assert!(
            PluginCli::try_parse_from(["kubectl steady", "plan", "scale", "deploy/web"]).is_err()
        );
    }

    #[test]
    fn plugin_is_recognised_by_file_name_only() {
        assert!(started_as_plugin(Some(OsStr::new("kubectl-steady"))));
        assert!(started_as_plugin(Some(OsStr::new(
            "/usr/local/bin/kubectl-steady"
        ))));
        assert!(started_as_plugin(Some(OsStr::new("kubectl-steady.exe"))));
        assert!(!started_as_plugin(Some(OsStr::new("/usr/bin/steady"))));
        assert!(!started_as_plugin(Some(OsStr::new(
            "/opt/kubectl-steady/steady"
        ))));
        assert!(!started_as_plugin(None));
    }
}
