"""Inbound commerce: records partners push to our API, stored one row per
record and kind (`PushedRecord`), versioned by `modifiedDate`, and read back
for a sync by the `partner-push` source (`PartnerPushSource`)."""
