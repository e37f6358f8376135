//! `steady proxy`: placeholder until issue 5 lands.
#![forbid(unsafe_code)]

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("steady proxy is not built yet")]
    NotBuilt,
}

pub async fn run(_args: Args) -> Result<std::process::ExitCode, Error> {
    Err(Error::NotBuilt)
}
