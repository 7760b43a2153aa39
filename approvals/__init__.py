"""Maker-checker (four eyes): approval requests, the registry of kinds the owning apps fill, and the
staff-editable thresholds. See ``approvals.apps.ApprovalsConfig`` for why it is an app of its own."""
