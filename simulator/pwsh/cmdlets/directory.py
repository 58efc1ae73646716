"""Active Directory as the host sees it: the KDS root key that a gMSA needs."""

from __future__ import annotations

import datetime
from typing import Any

from ..commands import Ctx, cmdlet
from ..values import PSDate, PSObject

KDS_SERVER_CONFIGURATION = "Microsoft.KeyDistributionService.Server.KdsServerConfiguration"


@cmdlet("Get-KdsRootKey", [])
def get_kds_root_key(ctx: Ctx) -> list[Any]:
    """The forest's KDS root keys, one KdsRootKey object each, as the Kds module lists them
    (https://learn.microsoft.com/powershell/module/kds/get-kdsrootkey: a list of KdsRootKey;
    none at all when the forest has no root key). Absent on a host without the Kds module
    (``kds_module: false``); ``kds_root_key: false`` on the forest root domain removes the key.
    """
    tenant = ctx.host.tenant
    root = tenant.domains.get(tenant.forest_root)
    if not (root and root["kds_root_key"]):
        return []
    dc = root["dcs"][0].split(".")[0].upper()
    base = ",".join(f"DC={part}" for part in tenant.forest_root.split("."))
    return [
        PSObject(
            {
                "AttributeOfWrongFormat": None,
                "KeyValue": [0] * 64,
                "EffectiveTime": PSDate(datetime.datetime(2024, 1, 1, 0, 0)),
                "CreationTime": PSDate(datetime.datetime(2024, 1, 1, 10, 0)),
                "IsFormatValid": True,
                "DomainController": f"CN={dc},OU=Domain Controllers,{base}",
                "ServerConfiguration": KDS_SERVER_CONFIGURATION,
                "KeyId": "c3f5e1a2-7b1d-4e0e-9f1a-0d8b6f5e3c21",
                "VersionNumber": 1,
            }
        )
    ]
