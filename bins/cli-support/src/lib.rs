//! What `tubemail`, `tubemail-hub` and `claude-tm` share at their command
//! line: the hidden `--generate <WHAT>` option, which writes shell
//! completions or the man page made from the same clap definition as
//! `--help`, for packaging (`scripts/stage-extras.sh`):
//! `<bin> --generate completions-bash|completions-zsh|completions-fish|man`
//! (to stdout), or `man-pages` (every page, the command's and each
//! subcommand's as `<bin>-<sub>.1`, written into the current directory).
//!
//! It is an option, not a subcommand: `claude-tm` hands unknown words to
//! claude, and `claude-tm generate …` must stay a prompt.

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
    /// Every man page into the current directory: `<bin>.1` and one per
    /// subcommand (`<bin>-<sub>.1`, which `<bin>.1` refers to).
    ManPages,
}

/// Writes `what` for `cmd` to `out`.
pub fn write(what: Generate, mut cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Shell;
    let name = cmd.get_name().to_owned();
    let shell = match what {
        Generate::CompletionsBash => Shell::Bash,
        Generate::CompletionsZsh => Shell::Zsh,
        Generate::CompletionsFish => Shell::Fish,
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::ManPages => {
            let dir = std::env::current_dir()?;
            clap_mangen::generate_to(cmd, &dir)?;
            return writeln!(out, "man pages of {name} written to {}", dir.display());
        }
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, Subcommand};

    use super::{Generate, write};

    /// A command line shaped like ours.
    #[derive(Debug, Parser)]
    #[command(name = "demo-tm", version, about = "A demo")]
    struct Demo {
        /// Hub URL.
        #[arg(long)]
        hub: Option<String>,
        #[arg(long, hide = true, value_name = "WHAT")]
        generate: Option<Generate>,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Debug, Subcommand)]
    enum Sub {
        /// Check the setup.
        Doctor,
    }

    fn text(what: Generate) -> String {
        let mut out = Vec::new();
        write(what, Demo::command(), &mut out).unwrap_or_else(|e| panic!("{what:?}: {e}"));
        String::from_utf8(out).unwrap_or_else(|e| panic!("{what:?}: {e}"))
    }

    #[test]
    fn each_kind_is_what_its_shell_or_man_reads() {
        for (what, head) in [
            (Generate::CompletionsBash, "complete -F"),
            (Generate::CompletionsZsh, "#compdef demo-tm"),
            (Generate::CompletionsFish, "complete -c demo-tm"),
            (Generate::Man, ".TH demo-tm 1"),
        ] {
            let text = text(what);
            assert!(text.contains(head), "{what:?}: {text}");
            assert!(
                text.contains("doctor"),
                "{what:?} names the subcommand: {text}"
            );
            assert!(text.contains("hub"), "{what:?} names the option: {text}");
        }
        assert!(
            !text(Generate::Man).contains("generate"),
            "hidden from the man page"
        );
    }

    #[test]
    fn man_pages_are_one_per_command_in_the_current_directory() {
        let dir = std::env::temp_dir().join(format!("cli-support-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let before = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
        std::env::set_current_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let said = text(Generate::ManPages);
        std::env::set_current_dir(before).unwrap_or_else(|e| panic!("{e}"));
        let page = |f: &str| {
            std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e} ({said})"))
        };
        assert!(
            page("demo-tm.1").contains("demo\\-tm\\-doctor(1)"),
            "{}",
            page("demo-tm.1")
        );
        assert!(page("demo-tm-doctor.1").contains("Check the setup"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_option_takes_exactly_these_words() {
        let parsed = Demo::try_parse_from(["demo-tm", "--generate", "completions-zsh"]);
        assert_eq!(
            parsed.ok().and_then(|d| d.generate),
            Some(Generate::CompletionsZsh)
        );
        let bad = Demo::try_parse_from(["demo-tm", "--generate", "completions-tcsh"]);
        let e = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("completions-fish"),
            "the error lists the choices: {e}"
        );
    }
}
