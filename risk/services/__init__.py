"""Writes of the risk app, one module per area. Every service is keyword-only, runs under
``transaction.atomic`` and leaves an audit trail (decisions, events, audit rows)."""
from risk.services.applications import (  # noqa: F401
    application_replay,
    application_request_human_review,
    application_submit,
)
from risk.services.campaigns import campaign_grant, campaign_preview  # noqa: F401
from risk.services.config import (  # noqa: F401
    blacklist_add,
    blacklist_deactivate,
    risk_policy_save,
    risk_rule_update,
    score_band_save,
)
from risk.services.purchases import purchase_risk_check  # noqa: F401
from risk.services.queue import (  # noqa: F401
    review_case_approve,
    review_case_decline,
    risk_event_mark_reviewed,
)
from risk.services.scorecards import (  # noqa: F401
    scorecard_version_activate,
    scorecard_version_create,
    scorecard_version_retire,
)
