//! `steady check` / `steady fix`: placeholder until issue 4 lands.
#![forbid(unsafe_code)]

pub mod cli {
    #[derive(Debug, clap::Args)]
    pub struct CheckArgs {}
    #[derive(Debug, clap::Args)]
    pub struct FixArgs {}
    #[derive(Debug, clap::Args)]
    pub struct RulesArgs {}
    #[derive(Debug, clap::Args)]
    pub struct ExplainArgs {}

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("steady check is not built yet")]
        NotBuilt,
    }

    pub fn check(_args: CheckArgs) -> Result<std::process::ExitCode, Error> {
        Err(Error::NotBuilt)
    }
    pub fn fix(_args: FixArgs) -> Result<std::process::ExitCode, Error> {
        Err(Error::NotBuilt)
    }
    pub fn rules(_args: RulesArgs) -> Result<std::process::ExitCode, Error> {
        Err(Error::NotBuilt)
    }
    pub fn explain(_args: ExplainArgs) -> Result<std::process::ExitCode, Error> {
        Err(Error::NotBuilt)
    }
}
