//! Asking for a password the way etcdctl v2 does (its `speakeasy` library): the prompt on stdout,
//! terminal echo turned off by running `stty -echo` on the same standard streams, one line read from
//! stdin byte by byte (so a second prompt reads the next line), echo turned back on with `stty echo`,
//! then a newline on stdout. The answer is trimmed of surrounding white space.
//!
//! When stdin is not a terminal nothing special happens: `stty` complains on stderr (twice, once per
//! call, exactly as under etcdctl) and the line comes from the pipe. Ctrl-C during the prompt turns echo
//! back on and exits with 255, as speakeasy does.
//!
//! Also what Ctrl-C does in general (`on_interrupt`), since a process has one handler: it ends watches
//! quietly (exit 0), and during a prompt restores echo first.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

/// The longest password line read (bytes); the rest of a longer line is left unread.
pub const MAX_PASSWORD_BYTES: usize = 64 * 1024;

/// What Ctrl-C does now.
const INTERRUPT_DEFAULT: u8 = 0;
const INTERRUPT_QUIET_EXIT: u8 = 1;
const INTERRUPT_RESTORE_ECHO: u8 = 2;
static INTERRUPT_MODE: AtomicU8 = AtomicU8::new(INTERRUPT_DEFAULT);
static HANDLER: Once = Once::new();

/// What Ctrl-C should do from now on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInterrupt {
    /// Exit 0 without a word (watches, `cluster-health --forever`).
    QuietExit,
}

/// Installs the process's interrupt handler (once) and selects its behaviour.
pub fn on_interrupt(behaviour: OnInterrupt) {
    match behaviour {
        OnInterrupt::QuietExit => INTERRUPT_MODE.store(INTERRUPT_QUIET_EXIT, Ordering::SeqCst),
    }
    install_handler();
}

fn install_handler() {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| match INTERRUPT_MODE.load(Ordering::SeqCst) {
            INTERRUPT_RESTORE_ECHO => {
                let _ = stty("echo");
                std::process::exit(255);
            }
            INTERRUPT_QUIET_EXIT => std::process::exit(0),
            // The usual end of a process killed by SIGINT, as a shell reports it.
            _ => std::process::exit(130),
        });
    });
}

/// Shows `prompt`, reads one line without echo, and returns it trimmed.
pub fn ask(prompt: &str) -> Result<String, String> {
    write_stdout(prompt);
    let previous = INTERRUPT_MODE.swap(INTERRUPT_RESTORE_ECHO, Ordering::SeqCst);
    install_handler();
    let line = match stty("-echo") {
        Ok(()) => {
            let line = read_line();
            let _ = stty("echo");
            line
        }
        Err(error) => Err(error),
    };
    INTERRUPT_MODE.store(previous, Ordering::SeqCst);
    write_stdout("\n");
    line.map(|line| line.trim().to_string())
}

/// Runs `stty ARGUMENT` on concordctl's own standard streams and waits for it; its complaints (say,
/// stdin is not a terminal) go to stderr and are not failures.
fn stty(argument: &str) -> Result<(), String> {
    match Command::new("stty").arg(argument).status() {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err("stty binary not found:\n\texec: \"stty\": executable file not found in $PATH".to_string())
        }
        Err(error) => Err(format!("failed turning off console echo for password entry:\n\t{error}")),
    }
}

/// One line from stdin, read a byte at a time so nothing after it is consumed; the end of input ends
/// it too. A trailing `\r` is dropped by the caller's trim.
fn read_line() -> Result<String, String> {
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < MAX_PASSWORD_BYTES {
        match stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(format!("failed during password entry: {error}")),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Splits `user[:password]`; `None` for the password when there is no colon (it must be asked for).
pub fn split_credentials(text: &str) -> (&str, Option<&str>) {
    match text.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_follows_the_first_colon() {
        assert_eq!(split_credentials("root:pa:ss"), ("root", Some("pa:ss")));
        assert_eq!(split_credentials("root:"), ("root", Some("")));
        assert_eq!(split_credentials("root"), ("root", None));
    }
}
