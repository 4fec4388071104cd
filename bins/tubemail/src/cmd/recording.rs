//! `recording`: terminal recordings.

use anyhow::Result;
use tubemail_client::{Client, FramesFilter};

use crate::cli::RecordingCommand;
use crate::render::{self, print_json};

/// Runs a `recording` subcommand.
pub async fn run(hub: &Client, command: RecordingCommand, json: bool) -> Result<()> {
    let status = match command {
        RecordingCommand::Status { worker } => hub.recording(&worker).await?,
        RecordingCommand::On { worker } => hub.set_recording(&worker, true).await?,
        RecordingCommand::Off { worker } => hub.set_recording(&worker, false).await?,
        RecordingCommand::Frames {
            worker,
            since,
            until,
            grep,
            limit,
        } => {
            let filter = FramesFilter {
                since,
                until,
                grep,
                limit: Some(limit),
            };
            let frames = hub.recording_frames(&worker, &filter).await?;
            if json {
                print_json(&frames)?;
            } else {
                print!("{}", render::frames(&frames));
            }
            return Ok(());
        }
    };
    if json {
        print_json(&status)
    } else {
        print!("{}", render::recording(&status, render::now()));
        Ok(())
    }
}
