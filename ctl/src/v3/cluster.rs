//! The member commands: `member list`, `add <name> --peer-urls=<urls> [--learner]`, `remove <id>`,
//! `update <id> --peer-urls=<urls>` and `promote <id>` (IDs in hexadecimal). `member add` in the
//! simple format also prints the `ETCD_*` settings the new member should start with.

use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest,
    MemberUpdateRequest,
};

use super::arguments::parse_uint;
use super::cli::{MemberAddArgs, MemberUpdateArgs};
use super::connection::dial_and_call;
use super::context::Context;
use super::errors::{Failure, exit};
use super::print::go_text::go_quote;
use super::print::{Format, Shown, write_stdout};

/// A member ID argument in hexadecimal (`member remove|update|promote`).
fn member_id(args: &[String]) -> Result<u64, Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "member ID is not provided"));
    }
    parse_uint(&args[0], 16).map_err(|error| {
        Failure::new(exit::BAD_ARGS, &format!("bad member ID arg ({error}), expecting ID in Hex"))
    })
}

fn peer_urls(text: &str) -> Result<Vec<String>, Failure> {
    if text.is_empty() {
        return Err(Failure::new(exit::BAD_ARGS, "member peer urls not provided"));
    }
    Ok(text.split(',').map(str::to_string).collect())
}

pub async fn list(context: &Context) -> Result<(), Failure> {
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_list(MemberListRequest {}).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MemberList(&response))
}

pub async fn add(context: &Context, args: &MemberAddArgs) -> Result<(), Failure> {
    let Some(name) = args.args.first() else {
        return Err(Failure::new(exit::BAD_ARGS, "member name not provided"));
    };
    if args.args.len() > 1 {
        let mut message = String::from("too many arguments");
        for argument in args.args.iter().filter(|argument| argument.to_lowercase().starts_with("http")) {
            message.push_str(&format!(", did you mean --peer-urls={argument}"));
        }
        return Err(Failure::new(exit::BAD_ARGS, &message));
    }
    let request = MemberAddRequest { peer_ur_ls: peer_urls(&args.peer_urls)?, is_learner: args.learner };
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_add(request).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MemberAdd(&response))?;
    if global.printer.format == Format::Simple {
        write_stdout(new_member_settings(&response, name, &args.peer_urls).as_bytes());
    }
    Ok(())
}

/// The settings `member add` suggests for the new member, after a blank line.
fn new_member_settings(response: &MemberAddResponse, name: &str, peer_urls: &str) -> String {
    let new_id = response.member.as_ref().map(|member| member.id).unwrap_or(0);
    let mut cluster = Vec::new();
    for member in &response.members {
        let member_name = if member.id == new_id { name } else { member.name.as_str() };
        for url in &member.peer_ur_ls {
            cluster.push(format!("{member_name}={url}"));
        }
    }
    format!(
        "\nETCD_NAME={}\nETCD_INITIAL_CLUSTER={}\nETCD_INITIAL_ADVERTISE_PEER_URLS={}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
        go_quote(name.as_bytes()),
        go_quote(cluster.join(",").as_bytes()),
        go_quote(peer_urls.as_bytes())
    )
}

pub async fn remove(context: &Context, args: &[String]) -> Result<(), Failure> {
    let id = member_id(args)?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_remove(MemberRemoveRequest { id }).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MemberRemove { id, response: &response })
}

pub async fn update(context: &Context, args: &MemberUpdateArgs) -> Result<(), Failure> {
    let id = member_id(&args.args)?;
    let request = MemberUpdateRequest { id, peer_ur_ls: peer_urls(&args.peer_urls)? };
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_update(request).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MemberUpdate { id, response: &response })
}

pub async fn promote(context: &Context, args: &[String]) -> Result<(), Failure> {
    let id = member_id(args)?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_promote(MemberPromoteRequest { id }).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MemberPromote { id, response: &response })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::etcdserverpb::Member;

    #[test]
    fn the_new_member_is_named_in_the_initial_cluster() {
        let member = |id: u64, name: &str, url: &str| Member {
            id,
            name: name.to_string(),
            peer_ur_ls: vec![url.to_string()],
            ..Member::default()
        };
        let response = MemberAddResponse {
            header: None,
            member: Some(member(2, "", "http://127.0.0.1:42999")),
            members: vec![member(1, "s1", "http://127.0.0.1:42380"), member(2, "", "http://127.0.0.1:42999")],
        };
        assert_eq!(
            new_member_settings(&response, "l1", "http://127.0.0.1:42999"),
            "\nETCD_NAME=\"l1\"\nETCD_INITIAL_CLUSTER=\"s1=http://127.0.0.1:42380,l1=http://127.0.0.1:42999\"\n\
             ETCD_INITIAL_ADVERTISE_PEER_URLS=\"http://127.0.0.1:42999\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
        );
    }

    #[test]
    fn member_ids_are_hexadecimal() {
        assert_eq!(member_id(&["a22e51f219e8155f".to_string()]).unwrap(), 0xa22e51f219e8155f);
        assert_eq!(member_id(&[]).unwrap_err().message.as_deref(), Some("member ID is not provided"));
        assert_eq!(member_id(&["zz".to_string()]).unwrap_err().code, exit::BAD_ARGS);
    }
}
