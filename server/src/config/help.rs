//! `--help`, `--version` and the short usage printed after a flag error, laid out like etcd's.

use super::flags::{FLAGS, Role};

/// The etcd release whose flags, defaults and v2 API Concord follows.
pub const ETCD_COMPATIBLE_VERSION: &str = "3.4.23";

/// The short usage etcd prints to stderr after a flag syntax error.
pub fn usage_text() -> String {
    "Usage:\n\
     \n  concord [flags]\n    Start a concord server.\n\
     \n  concord --version\n    Show the version of concord.\n\
     \n  concord -h | --help\n    Show the help information about concord.\n\
     \n  concord --config-file\n    Path to the server configuration file. Note that if a configuration file is \
     provided, other command line flags and environment variables will be ignored.\n"
        .to_string()
}

/// The full `--help` text: the usage, then every flag by section with its default, as etcd
/// prints them, marking the flags Concord accepts but ignores or accepts only when off.
pub fn help_text() -> String {
    let mut text = usage_text();
    let mut sections: Vec<&str> = Vec::new();
    for spec in FLAGS {
        if spec.section != "General" && !sections.contains(&spec.section) {
            sections.push(spec.section);
        }
    }
    for section in sections {
        text.push_str(&format!("\n{section}:\n"));
        for spec in FLAGS.iter().filter(|spec| spec.section == section) {
            let default = format!("'{}'", spec.default_text);
            text.push_str(&format!("  --{} {default}\n    {}", spec.name, spec.usage));
            match spec.role {
                Role::Used => {}
                Role::Ignored => text.push_str(" [accepted for compatibility; ignored by concord]"),
            }
            text.push('\n');
        }
    }
    text.push_str(
        "\nEvery flag can also be set from its ETCD_* environment variable (--initial-cluster-token is \
         ETCD_INITIAL_CLUSTER_TOKEN); flags on the command line win.\n",
    );
    text
}

/// The `--version` text, in etcd's layout.
pub fn version_text() -> String {
    format!(
        "concord Version: {}\netcd Compatibility: {ETCD_COMPATIBLE_VERSION} (v2 API)\nRust Edition: 2024\nOS/Arch: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}
