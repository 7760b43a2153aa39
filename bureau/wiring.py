"""Plugs credit-bureau reporting into close of business and the privacy registry."""
from __future__ import annotations

_connected = False


def connect() -> None:
    global _connected
    if _connected:
        return
    _connected = True
    from bureau.services import bureau_file_step, bureau_notices_queue
    from cob.registry import register_step
    from privacy.registry import Provider, RecordSet, register

    # The notices first: an account that turned negative today gets its notice queued before the file,
    # which withholds its negative data until the notice has been sent for the lead time.
    register_step("bureau.pre_notices", bureau_notices_queue, slot="bureau_file")
    register_step("bureau.monthly_file", bureau_file_step, slot="bureau_file", chunked=False)
    register(Provider(
        key="bureau",
        label="Credit-bureau reporting",
        records=(
            RecordSet("bureau_records", "bureau.BureauRecord", customer_path="account__customer",
                      description="What was reported to the credit bureau about each account, month by month."),
        ),
    ))

