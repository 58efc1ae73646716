"""Is a file the one its publisher signed: Get-FileHash and Get-AuthenticodeSignature, as the
runbook checks the installer before it runs it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..filestream import ReadStream
from ..members import ChainedCertificate
from ..values import PSObject, as_list, to_str
from .providers import path_not_found, reach


@cmdlet(
    "Get-FileHash",
    [Param("Path", position=0, aliases=("LiteralPath",)), Param("Algorithm"), Param("InputStream")],
    pipeline=True,
)
def get_file_hash(ctx: Ctx) -> list[Any]:
    algo = to_str(ctx.get("Algorithm", "SHA256")).upper()
    funcs = {
        "SHA256": hashlib.sha256,
        "SHA1": hashlib.sha1,
        "SHA384": hashlib.sha384,
        "SHA512": hashlib.sha512,
        "MD5": hashlib.md5,
    }
    if algo not in funcs:
        raise ctx.error(
            f'Cannot validate argument on parameter \'Algorithm\'. The argument "{algo}" does not belong to the set "SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160" specified by the ValidateSet attribute. Supply an argument that is in the set and then try the command again.',  # noqa: E501
            "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.GetFileHashCommand",
            "InvalidData",
            "System.Management.Automation.ParameterBindingValidationException",
        )
    stream = ctx.get("InputStream") if ctx.has("InputStream") else None
    if isinstance(stream, ReadStream):  # the bytes read through an open handle; no Path
        data = stream.content()
        return [
            PSObject(
                {"Algorithm": algo, "Hash": funcs[algo](data).hexdigest().upper(), "Path": None},
                type_name="Microsoft.Powershell.Utility.FileHash",
            )
        ]
    out = []
    for p in as_list(ctx.get("Path")):
        f = ctx.host.file(reach(ctx, to_str(p), "GetFileHashCommand"))
        if f is None or f.is_dir:
            raise path_not_found(ctx, to_str(p), "GetFileHashCommand")
        out.append(
            PSObject(
                {
                    "Algorithm": algo,
                    "Hash": funcs[algo](f.content).hexdigest().upper(),
                    "Path": f.path,
                },
                type_name="Microsoft.Powershell.Utility.FileHash",
            )
        )
    return out


@cmdlet(
    "Get-AuthenticodeSignature",
    [Param("FilePath", position=0, aliases=("Path", "LiteralPath"))],
    pipeline=True,
)
def get_authenticode_signature(ctx: Ctx) -> list[Any]:
    out = []
    for p in as_list(ctx.get("FilePath")):
        f = ctx.host.file(reach(ctx, to_str(p), "GetAuthenticodeSignatureCommand"))
        if f is None or f.is_dir:
            raise path_not_found(ctx, to_str(p), "GetAuthenticodeSignatureCommand")
        if f.signer:
            cert = ChainedCertificate(
                {
                    "Subject": f.signer,
                    "Issuer": f.chain[0] if f.chain else f.signer,
                    "Thumbprint": "F252E794FE438E35ACE6E53762C0A234A2C52135",
                },
                list(f.chain),
            )
            out.append(
                PSObject(
                    {
                        "SignerCertificate": cert,
                        "Status": "Valid",
                        "StatusMessage": "Signature verified.",
                        "Path": f.path,
                        "SignatureType": "Authenticode",
                    },
                    type_name="System.Management.Automation.Signature",
                )
            )
        else:
            out.append(
                PSObject(
                    {
                        "SignerCertificate": None,
                        "Status": "NotSigned",
                        "StatusMessage": "The file is not digitally signed.",
                        "Path": f.path,
                        "SignatureType": "None",
                    },
                    type_name="System.Management.Automation.Signature",
                )
            )
    return out
