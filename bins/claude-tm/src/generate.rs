//! `--generate <WHAT>` (hidden): shell completions or the man page, made
//! from the same clap definition as `--help`. `tubemail`, `tubemail-hub`
//! and `claude-tm` take the same flag (each binary has this small file:
//! clap stays out of the libraries), for packaging:
//! `<bin> --generate completions-bash|completions-zsh|completions-fish|man`.

use std::io::Write;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// Bash completions (`/usr/share/bash-completion/completions/<bin>`).
    CompletionsBash,
    /// Zsh completions (`_<bin>` on `$fpath`).
    CompletionsZsh,
    /// Fish completions (`<bin>.fish`).
    CompletionsFish,
    /// The man page, roff (`<bin>.1`).
    Man,
}

/// Writes `what` for `cmd` to `out`.
pub fn write(what: Generate, cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Shell;
    let mut cmd = cmd;
    let name = cmd.get_name().to_owned();
    let shell = match what {
        Generate::CompletionsBash => Shell::Bash,
        Generate::CompletionsZsh => Shell::Zsh,
        Generate::CompletionsFish => Shell::Fish,
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}
