"""Plugs credit-bureau reporting into close of business and the privacy registry."""
from __future__ import annotations

_connected = False


def connect() -> None:
    global _connected
    if _connected:
        return
    _connected = True
    from bureau import services
    from cob.registry import register_step
    from installments.hooks import register_rejudge_listener
    from privacy.registry import Provider, RecordSet, register

    # The day's delinquency first (the month's highest DPD and worst status, PRODUCT §13), then the notices:
    # an account that turned negative today gets its notice queued before the file, which withholds its
    # negative data until the notice has been sent for the lead time; a notice that cannot go out escalates.
    register_step("bureau.delinquency_days", services.delinquency_days_record, slot="bureau_file")
    register_step("bureau.pre_notices", services.bureau_notices_queue, slot="bureau_file")
    register_step("bureau.pre_notice_escalations", services.pre_notices_escalate, slot="bureau_file")
    register_step("bureau.month_snapshot", services.bureau_month_step, slot="bureau_file", chunked=False)
    register_step("bureau.monthly_file", services.bureau_file_step, slot="bureau_file", chunked=False)
    register_step("bureau.negative_purge", services.bureau_negative_purge, slot="bureau_file", chunked=False)
    register_rejudge_listener("bureau.delinquency_days", services.delinquency_days_rejudged)
    register_rejudge_listener("bureau.pre_notice_withdraw", services.pre_notice_follow_rejudged)
    register(Provider(
        key="bureau",
        label="Credit-bureau reporting",
        records=(
            RecordSet("bureau_records", "bureau.BureauRecord", customer_path="account__customer",
                      description="What was reported to the credit bureau about each account, month by month."),
            RecordSet("bureau_snapshots", "bureau.BureauSnapshot", customer_path="account__customer",
                      description="Each account's frozen credit-bureau month: status, DPD, 24-month history."),
            RecordSet("bureau_disputes", "bureau.BureauDispute", customer_path="snapshot__account__customer",
                      description="Disputes of credit-bureau records and their answers."),
            RecordSet("bureau_corrections", "bureau.BureauCorrection", customer_path="snapshot__account__customer",
                      description="Corrections of credit-bureau months, with their causes."),
            RecordSet("bureau_delinquency_days", "bureau.DelinquencyDay", customer_path="account__customer",
                      description="Days past due at each close, as reported to the credit bureau."),
            RecordSet("bureau_pre_notice_letters", "bureau.PreNoticeLetter", customer_path="account__customer",
                      description="Letters telling the customer their overdue data will be reported."),
        ),
    ))

