"""Partner commerce: the partner's own data in the Codat Commerce shape,
either pulled from its HTTP API (`PartnerCommerceSource`) or pushed to ours
(`PushedRecord`, read back by `PartnerPushSource`)."""
