//! The maintenance commands: `move-leader <id>` (asks each endpoint for its status to find the
//! leader, then asks the leader), `alarm list|disarm`, and `defrag [--cluster]`.

use api::etcdserverpb::alarm_request::AlarmAction;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use api::etcdserverpb::{
    AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest, MoveLeaderRequest, StatusRequest,
};

use super::arguments::parse_uint;
use super::cli::DefragArgs;
use super::connection::{call, dial, dial_and_call};
use super::context::Context;
use super::endpoint::targets;
use super::errors::{Failure, exit};
use super::print::go_text::go_string_list;
use super::print::{Shown, write_stderr_line, write_stdout};

pub async fn move_leader(context: &Context, args: &[String]) -> Result<(), Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "move-leader command needs 1 argument"));
    }
    let target = parse_uint(&args[0], 16).map_err(|error| Failure::new(exit::BAD_ARGS, &error))?;
    let global = context.global()?;
    let deadline = global.settings.command_deadline();
    let mut leader = None;
    for endpoint in &global.settings.endpoints {
        let settings = global.settings.only(endpoint);
        let status = dial_and_call(&settings, deadline, MaintenanceClient::new, |mut client| async move {
            client.status(StatusRequest {}).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
        if status.header.unwrap_or_default().member_id == status.leader {
            leader = Some((settings, status.leader));
            break;
        }
    }
    let Some((leader_settings, leader_id)) = leader else {
        let message = format!("no leader endpoint given at {}", go_string_list(&global.settings.endpoints));
        return Err(Failure::new(exit::BAD_ARGS, &message));
    };
    let response =
        dial_and_call(&leader_settings, deadline, MaintenanceClient::new, |mut client| async move {
            client.move_leader(MoveLeaderRequest { target_id: target }).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::MoveLeader { leader: leader_id, target, response: &response })
}

/// `alarm list` (`disarm` false) or `alarm disarm`. Like etcd's Go client, disarming lists the alarms
/// and disarms each; the answer gathers what each disarm returned (and has no header).
pub async fn alarm(context: &Context, args: &[String], disarm: bool) -> Result<(), Failure> {
    if !args.is_empty() {
        let name = if disarm { "disarm" } else { "list" };
        return Err(Failure::new(exit::BAD_ARGS, &format!("alarm {name} command accepts no arguments")));
    }
    let global = context.global()?;
    let settings = &global.settings;
    let deadline = settings.command_deadline();
    let channel = dial(settings, deadline).await.map_err(|error| error.failure(exit::ERROR))?;
    let mut client = MaintenanceClient::new(channel);
    let list = AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: AlarmType::None as i32 };
    let listed = call(deadline, client.alarm(list)).await.map_err(|error| error.failure(exit::ERROR))?;
    if !disarm {
        return global.printer.print(&Shown::Alarm(&listed));
    }
    let mut disarmed = AlarmResponse { header: None, alarms: Vec::new() };
    for alarm in &listed.alarms {
        let request = AlarmRequest {
            action: AlarmAction::Deactivate as i32,
            member_id: alarm.member_id,
            alarm: alarm.alarm,
        };
        let response =
            call(deadline, client.alarm(request)).await.map_err(|error| error.failure(exit::ERROR))?;
        disarmed.alarms.extend(response.alarms);
    }
    global.printer.print(&Shown::Alarm(&disarmed))
}

pub async fn defrag(context: &Context, args: &DefragArgs) -> Result<(), Failure> {
    if !args.data_dir.is_empty() {
        return Err(Failure::new(exit::BAD_ARGS, "defrag --data-dir is not supported by concordctl"));
    }
    let global = context.global()?;
    let mut failures = 0;
    for endpoint in targets(&global.settings, args.cluster).await? {
        let settings = global.settings.only(&endpoint);
        let outcome = dial_and_call(
            &settings,
            settings.command_deadline(),
            MaintenanceClient::new,
            |mut client| async move { client.defragment(DefragmentRequest {}).await },
        )
        .await;
        match outcome {
            Ok(_) => write_stdout(format!("Finished defragmenting etcd member[{endpoint}]\n").as_bytes()),
            Err(error) => {
                write_stderr_line(&format!("Failed to defragment etcd member[{endpoint}] ({error})"));
                failures += 1;
            }
        }
    }
    if failures > 0 { Err(Failure::quiet(exit::ERROR)) } else { Ok(()) }
}
