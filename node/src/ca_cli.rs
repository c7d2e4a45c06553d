//! `renkei ca …`: the federation CA's commands.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CaCommand {}

pub fn run(command: CaCommand) -> anyhow::Result<()> {
    match command {}
}
