//! `steady serve`: placeholder until issue 3 lands.
#![forbid(unsafe_code)]

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("steady serve is not built yet")]
    NotBuilt,
}

pub async fn run(_args: Args) -> Result<std::process::ExitCode, Error> {
    Err(Error::NotBuilt)
}
