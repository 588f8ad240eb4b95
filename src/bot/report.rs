//! What the bot did for a component ([`Status`]), where the component stands after it
//! ([`State`]), and the report that says both.

use crate::mr::MergeRequest;
use crate::promote::branch::Behind;

/// How a component ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A merge request was opened.
    Opened,
    /// The open merge request was moved to the new version (or its text brought up to date).
    Updated,
    /// The open merge request already proposes this version.
    UpToDate,
    /// Production already runs this version (or a newer one); no merge request was open.
    NothingToDo,
    /// Production already runs the version: the open merge requests were closed as done.
    ClosedDone,
    /// The branch holds a commit the bot did not make and its merge request is open: left
    /// alone, with a note.
    LeftAlone,
    /// A person closed the merge request of this version: not proposed again.
    Declined,
    /// Another component's promotion merge request that `hold_for` names is open: nothing
    /// pushed.
    Held,
    /// The image did not appear in time: nothing pushed.
    TimedOut,
    /// Stage has not run a version newer than production's cleanly for the soak time: nothing
    /// pushed.
    StageNotSoaked,
}

/// Whether a component is where it should be, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The newest version is proposed (or production runs it), every location with it.
    Done,
    /// A person's commit is on the branch of an open merge request: the bot does not push.
    LeftAlone,
    /// A person closed the merge request of the version asked for.
    Declined,
    /// Held back while another component's promotion is open.
    Held,
    /// Proposed, but locations a person moved to another version stay behind (drifted).
    Behind,
    /// The image is not in the registry yet.
    WaitingForImage,
    /// Proposed, and the merge request's check shows what a person must look at: changes the
    /// shipped commits do not explain, a failed or missing run, a pin check that fails.
    CheckFindings,
    /// Stage has not soaked a newer version yet.
    WaitingForStage,
}

impl Report {
    /// Something is left to see to that no person holds up: stage has not soaked a newer
    /// version, or production does not run the merged one everywhere yet (or was not checked).
    pub fn unsettled(&self) -> bool {
        self.state == State::WaitingForStage
            || self.after_merge.as_ref().is_some_and(|a| !a.settled)
    }
}

impl State {
    /// Something a person did (or must do) keeps the component from where it should be.
    pub fn needs_a_person(self) -> bool {
        matches!(
            self,
            State::LeftAlone | State::Declined | State::Held | State::Behind | State::CheckFindings
        )
    }
}

/// A merge request named in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MrRef {
    pub iid: u64,
    pub url: String,
}

impl MrRef {
    pub(super) fn of(m: &MergeRequest) -> MrRef {
        MrRef {
            iid: m.iid,
            url: m.web_url.clone(),
        }
    }
}

/// What the check of production after the merge found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AfterMerge {
    /// In words, with the merge request.
    pub message: String,
    /// Production runs the merged version everywhere (or nothing was merged): nothing left to
    /// see to.
    pub settled: bool,
}

/// What the bot did for one component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub component: String,
    pub status: Status,
    /// Where the component stands after the run.
    pub state: State,
    /// The version production runs (the target branch's `.env` tag).
    pub from: String,
    /// The version proposed (full id), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Who pushed the proposed version upstream, as the title names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
    /// The component's promotion merge request, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_request: Option<MrRef>,
    /// The merge requests closed by this run.
    pub closed: Vec<MrRef>,
    /// What the promotion leaves at another version.
    pub behind: Vec<Behind>,
    /// With `--after-merge`: what the check of production after the merge found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_merge: Option<AfterMerge>,
    /// One line that says what happened.
    pub message: String,
}

impl Report {
    /// A report of a run that proposes nothing new.
    pub(super) fn idle(
        c: &str,
        status: Status,
        state: State,
        from: &str,
        mr: Option<&MergeRequest>,
        message: String,
    ) -> Report {
        Report {
            component: c.to_string(),
            status,
            state,
            from: from.to_string(),
            version: None,
            triggered_by: None,
            merge_request: mr.map(MrRef::of),
            closed: Vec::new(),
            behind: Vec::new(),
            after_merge: None,
            message,
        }
    }
}
