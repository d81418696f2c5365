//! Keeping one nftables table in step with followed objects, for ServiceProxy and PolicyActor:
//! changes are gathered for 20 ms, the table rendered, and applied (`nft -f`, one atomic
//! transaction) only when it differs from the last applied; a failed apply is retried every
//! second.

use std::time::Duration;

use actix::prelude::*;

use crate::tree::{ActorState, Member};

const GATHER: Duration = Duration::from_millis(20);

/// Where an actor's table stands.
#[derive(Debug, Default)]
pub struct TableState {
    applied: String,
    scheduled: bool,
    applying: bool,
}

/// An actor that renders a table.
pub trait Renders: Actor<Context = Context<Self>> {
    fn sync(&mut self) -> &mut TableState;
    fn member(&self) -> &Member;
    /// Everything it renders from has been listed once.
    fn ready(&self) -> bool;
    fn render(&self) -> String;
    /// The actor's name, for logs.
    const NAME: &'static str;
}

/// Apply soon (once per gathering window).
pub fn schedule<A: Renders>(act: &mut A, ctx: &mut Context<A>) {
    if act.sync().scheduled || !act.ready() {
        return;
    }
    act.sync().scheduled = true;
    ctx.run_later(GATHER, |act, ctx| {
        act.sync().scheduled = false;
        apply(act, ctx);
    });
}

fn apply<A: Renders>(act: &mut A, ctx: &mut Context<A>) {
    if act.sync().applying {
        return schedule(act, ctx);
    }
    let rules = act.render();
    if rules == act.sync().applied {
        return;
    }
    act.sync().applying = true;
    let script = rules.clone();
    let work = tokio::task::spawn_blocking(move || k3rs_agent::proxy::apply(&script));
    ctx.spawn(actix::fut::wrap_future::<_, A>(work).map(move |result, act: &mut A, ctx| {
        act.sync().applying = false;
        match result.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(()) => {
                act.sync().applied = rules;
                act.member().set_state(ActorState::Running);
            }
            Err(e) => {
                tracing::warn!(actor = A::NAME, error = %e, "cannot apply the rules");
                act.member().error(format!("cannot apply the rules: {e}"));
                ctx.run_later(Duration::from_secs(1), |act, ctx| apply(act, ctx));
            }
        }
    }));
}
