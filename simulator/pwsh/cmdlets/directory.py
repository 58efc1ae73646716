"""Active Directory as the host sees it: the KDS root key that a gMSA needs."""

from __future__ import annotations

from typing import Any

from ..commands import Ctx, cmdlet
from ..values import PSObject


@cmdlet("Get-KdsRootKey", [])
def get_kds_root_key(ctx: Ctx) -> list[Any]:
    tenant = ctx.host.tenant
    root = tenant.domains.get(tenant.forest_root)
    if root and root["kds_root_key"]:
        return [
            PSObject(
                {
                    "KeyId": "c3f5e1a2-7b1d-4e0e-9f1a-0d8b6f5e3c21",
                    "EffectiveTime": "1/1/2024 12:00:00 AM",
                    "DomainController": "CN=" + root["dcs"][0].split(".")[0].upper(),
                }
            )
        ]
    return []
