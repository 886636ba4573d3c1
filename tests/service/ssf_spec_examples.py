"""The SET examples of the OpenID Shared Signals Framework 1.0, CAEP 1.0 and RISC 1.0 final
specifications, as published: copied verbatim from their sources in github.com/openid/sharedsignals
(commit e47d2a0c3c7c860109243221f864da70ed4cba71, "Update draft and align with final spec
references", 2025-12-05): ``openid-sharedsignals-framework-1_0.md``, ``openid-caep-1_0.md`` and
``openid-risc-1_0.xml``, every example whose JSON holds an ``events`` claim.

Each ``Example`` names its source file and the anchor of its figure (or, where a figure has
none, of its section), keeps the text as printed (only spaces at the ends of lines, which the
RISC source has in blank lines, are dropped), and says what revoker does with it:
a rule ``(kind, value)``, or the outcome of an event that makes none. One text is not JSON as
printed: RISC 1.0's Account Disabled example has a comma after its last ``sub_id`` member;
``ssf_spec_example_claims`` removes exactly that comma, and the test says so.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "https://github.com/openid/sharedsignals/tree/e47d2a0c3c7c860109243221f864da70ed4cba71"


@dataclass(frozen=True)
class Example:
    source: str  # the file in the specifications' repository
    anchor: str  # the figure's (or its section's) anchor there
    text: str  # the example, as printed
    expected: tuple[str, str] | str  # a rule (kind, value), or the outcome of no rule


EXAMPLES: tuple[Example, ...] = (
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "figarrayaud",
        """\
{
  "jti": "123456",
  "iss": "https://transmitter.example.com",
  "aud": ["receiver.example.com/web", "receiver.example.com/mobile"],
  "iat": 1493856000,
  "txn": "8675309",
  "sub_id": {
    "format": "opaque",
    "id": "72e6991badb44e08a69672960053b342"
  },
  "events": {
    "https://schemas.openid.net/secevent/ssf/event-type/verification": {
      "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="
    }
  }
}
""",
        "verification",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "subject-ids-ex-simple",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "email",
    "email": "foo@example.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled": {}
  }
}
""",
        "not_applied",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "risc-event-subject-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "phone_number",
    "phone_number": "+1 206 555 0123"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
      "reason": "hijacking"
    }
  }
}
""",
        "unsupported_subject",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "caep-event-properties-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "email",
    "email": "user@example.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
      "claims": {
        "token": "some-token-value"
      }
    }
  }
}
""",
        "unsupported_subject",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "subject-ids-ex-complex",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "complex",
    "user": {
      "format": "iss_sub",
      "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
      "sub": "jane.smith@example.com"
    },
    "device": {
      "format": "iss_sub",
      "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
      "sub": "e9297990-14d2-42ec-a4a9-4036db86509a"
    }
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
      "initiating_entity": "policy",
      "reason_admin": {
        "en": "Policy Violation: C076E82F"
      },
      "reason_user": {
        "en": "Land speed violation.",
        "es": "Violación de velocidad en tierra."
      },
      "event_timestamp": 1600975810
    }
  }
}
""",
        ("subject", "jane.smith@example.com"),
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "subject-properties-ex",
        """\
{
  "iss": "https://sp.example2.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1520364019,
  "txn": "8675309",
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "email",
    "email": "foo@example2.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
      "event_timestamp": 1600975810,
      "claims": {
         "role": "ro-admin"
      }
    }
  }
}
""",
        "unsupported_subject",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "subject-custom-type-ex",
        """\
{
  "iss": "https://myservice.example3.com/",
  "jti": "756E69717565206964656E746966696534",
  "iat": 15203800012,
  "txn": "8675309",
  "aud": "636C69656E745F6324",
  "sub_id": {
    "format": "catalog_item",
    "catalog_id": "c0384/winter/2354122"
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
      "event_timestamp": 1600975810,
      "claims": {
         "role": "ro-admin"
      }
    }
  }
}
""",
        "unsupported_subject",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "figverifyset",
        """\
{
  "jti": "123456",
  "iss": "https://transmitter.example.com",
  "aud": "receiver.example.com",
  "iat": 1493856000,
  "sub_id": {
    "format": "opaque",
    "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"
  },
  "events": {
    "https://schemas.openid.net/secevent/ssf/event-type/verification": {
      "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="
    }
  }
}
""",
        "verification",
    ),
    Example(
        "openid-sharedsignals-framework-1_0.md",
        "figstreamupdatedset",
        """\
{
  "jti": "123456",
  "iss": "https://transmitter.example.com",
  "aud": "receiver.example.com",
  "iat": 1493856000,
  "sub_id": {
    "format": "opaque",
    "id" : "f67e39a0a4d34d56b3aa1bc4cff0069f"
  },
  "events": {
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated": {
      "status": "paused",
      "reason": "Internal error"
    }
  }
}
""",
        "stream_updated",
    ),
    Example(
        "openid-caep-1_0.md",
        "session-revoked-example-session-id-req",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "opaque",
        "id": "dMTlD|1600802906337.16|16008.16"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
            "event_timestamp": 1615304991
        }
    }
}
""",
        ("session", "dMTlD|1600802906337.16|16008.16"),
    ),
    Example(
        "openid-caep-1_0.md",
        "session-revoked-example-user-sub",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "complex",
        "session": {
          "format": "opaque",
          "id": "dMTlD|1600802906337.16|16008.16"
        },
        "user": {
          "format": "iss_sub",
          "iss": "https://idp.example.com/123456789/",
          "sub": "99beb27c-c1c2-4955-882a-e0dc4996fcbc"
        },
        "tenant": {
          "format": "opaque",
          "id": "123456789"
        }
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
            "initiating_entity": "policy",
            "reason_admin": {
                "en": "Landspeed Policy Violation: C076E82F"
            },
            "reason_user": {
                "en": "Access attempt from multiple regions.",
                "es-410": "Intento de acceso desde varias regiones."
            },
            "event_timestamp": 1615304991
        }
    }
}
""",
        ("session", "dMTlD|1600802906337.16|16008.16"),
    ),
    Example(
        "openid-caep-1_0.md",
        "session-revoked-example-user-device",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "complex",
        "user": {
            "format": "iss_sub",
            "iss": "https://idp.example.com/123456789/",
            "sub": "jane.smith@example.com"
        },
        "device": {
            "format": "iss_sub",
            "iss": "https://idp.example.com/123456789/",
            "sub": "e9297990-14d2-42ec-a4a9-4036db86509a"
        },
        "tenant": {
          "format": "opaque",
          "id": "123456789"
        }
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
            "initiating_entity": "policy",
            "reason_admin": {
                "en": "Policy Violation: C076E822"
            },
            "reason_user": {
                "en": "This device is no longer compliant.",
                "it": "Questo dispositivo non è più conforme."
            },
            "event_timestamp": 1615304991
        }
    }
}
""",
        ("subject", "jane.smith@example.com"),
    ),
    Example(
        "openid-caep-1_0.md",
        "token-claims-change-example-oidc",
        """\
{
    "iss": "https://idp.example.com/987654321/",
    "jti": "9afce1e4e642b165fcaacdd0e7aa4903",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "jwt_id",
        "iss": "https://idp.example.com/987654321/",
        "jti": "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
            "event_timestamp": 1615304991,
            "claims": {
                "role": "ro-admin"
            }
        }
    }
}
""",
        ("token", "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7"),
    ),
    Example(
        "openid-caep-1_0.md",
        "token-claims-change-example-oidc-optional",
        """\
{
    "iss": "https://idp.example.com/987654321/",
    "jti": "9afce1e4e642b165fcaacdd0e7aa4903",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "jwt_id",
        "iss": "https://idp.example.com/987654321/",
        "jti": "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
            "event_timestamp": 1615304991,
            "initiating_entity": "policy",
            "reason_admin": {
                "en": "User left trusted network: CorpNet3"
            },
            "reason_user": {
                "en": "You're no longer connected to a trusted network.",
                "it": "Non sei più connesso a una rete attendibile."
            },
            "claims": {
                "trusted_network": false
            }
        }
    }
}
""",
        ("token", "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7"),
    ),
    Example(
        "openid-caep-1_0.md",
        "token-claims-change-example-saml",
        """\
{
    "iss": "https://idp.example.com/987654321/",
    "jti": "dae94fed5f459881efa38b65c6772ddc",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "saml_assertion_id",
        "issuer": "https://idp.example.com/987654321/",
        "assertion_id": "_a75adf55-01d7-dbd8372ebdfc"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
            "event_timestamp": 1615304991,
            "claims": {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/role": "ro-admin"
            }
        }
    }
}
""",
        "unsupported_subject",
    ),
    Example(
        "openid-caep-1_0.md",
        "credential-change-example-fido2",
        """\
{
    "iss": "https://idp.example.com/3456789/",
    "jti": "07efd930f0977e4fcc1149a733ce7f78",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "iss_sub",
        "iss": "https://idp.example.com/3456789/",
        "sub": "jane.smith@example.com"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/credential-change": {
            "credential_type": "fido2-roaming",
            "change_type": "create",
            "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
            "friendly_name": "Jane's USB authenticator",
            "initiating_entity": "user",
            "reason_admin": {
                "en": "User self-enrollment"
            },
            "event_timestamp": 1615304991
        }
    }
}
""",
        "not_applied",
    ),
    Example(
        "openid-caep-1_0.md",
        "assurance-level-change-examples-al-increase",
        """\
{
    "iss": "https://idp.example.com/3456789/",
    "jti": "07efd930f0977e4fcc1149a733ce7f78",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "iss_sub",
        "iss": "https://idp.example.com/3456789/",
        "sub": "jane.smith@example.com"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change": {
            "namespace": "NIST-AAL",
            "current_level": "nist-aal2",
            "previous_level": "nist-aal1",
            "change_direction": "increase",
            "initiating_entity": "user",
            "event_timestamp": 1615304991
        }
    }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-caep-1_0.md",
        "assurance-level-change-examples-custom",
        """\
{
    "iss": "https://idp.example.com/3456789/",
    "jti": "07efd930f0977e4fcc1149a733ce7f78",
    "iat": 1615305159,
    "aud": "https://sp.example2.net/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "iss_sub",
        "iss": "https://idp.example.com/3456789/",
        "sub": "jane.smith@example.com"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change": {
            "namespace": "Retinal Scan",
            "current_level": "hi-res-scan",
            "initiating_entity": "user",
            "event_timestamp": 1615304991
        }
    }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-caep-1_0.md",
        "device-compliance-change-examples-out-of-compliance",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
        "format": "complex",
        "device": {
            "format": "iss_sub",
            "iss": "https://idp.example.com/123456789/",
            "sub": "e9297990-14d2-42ec-a4a9-4036db86509a"
        },
        "tenant": {
            "format": "opaque",
            "id": "123456789"
        }
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change": {
            "current_status": "not-compliant",
            "previous_status": "compliant",
            "initiating_entity": "policy",
            "reason_admin": {
                "en": "Location Policy Violation: C076E8A3"
            },
            "reason_user": {
                "en": "Device is no longer in a trusted location."
            },
            "event_timestamp": 1615304991
        }
    }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-caep-1_0.md",
        "session-established-examples",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
      "format": "email",
      "email": "someuser@somedomain.com"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/session-established": {
          "fp_ua": "abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611",
          "acr": "AAL2",
          "amr": ["otp"],
          "event_timestamp": 1615304991
        }
    }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-caep-1_0.md",
        "session-presented-examples",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
      "format": "email",
      "email": "someuser@somedomain.com"
    },
    "events": {
        "https://schemas.openid.net/secevent/caep/event-type/session-presented": {
          "fp_ua": "abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611",
          "ext_id": "12345",
          "event_timestamp": 1615304991
        }
    }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-caep-1_0.md",
        "risk-level-change-examples",
        """\
{
    "iss": "https://idp.example.com/123456789/",
    "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
    "iat": 1615305159,
    "aud": "https://sp.example.com/caep",
    "txn": "8675309",
    "sub_id": {
      "format": "iss_sub",
      "iss": "https://idp.example.com/3456789/",
      "sub": "jane.doe@example.com"
    },
    "events":{
      "https://schemas.openid.net/secevent/caep/event-type/risk-level-change":{
         "current_level": "LOW",
         "previous_level": "HIGH",
         "event_timestamp": 1615304991,
         "principal": "USER",
         "risk_reason": "PASSWORD_FOUND_IN_DATA_BREACH"
      }
   }
}
""",
        "unsupported_event",
    ),
    Example(
        "openid-risc-1_0.xml",
        "account-credential-change-required-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1508184845,
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "iss_sub",
    "iss": "https://idp.example.com/",
    "sub": "7375626A656374"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required": {}
  }
}

""",
        ("subject", "7375626A656374"),
    ),
    Example(
        "openid-risc-1_0.xml",
        "account-disabled-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1508184845,
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "iss_sub",
    "iss": "https://idp.example.com/",
    "sub": "7375626A656374",
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
      "reason": "hijacking"
    }
  }
}

""",
        ("subject", "7375626A656374"),
    ),
    Example(
        "openid-risc-1_0.xml",
        "identifier-changed-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1508184845,
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "email",
    "email": "john.doe@example.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/identifier-changed": {
      "new-value": "john.roe@example.com"
    }
  }
}

""",
        "unsupported_event",
    ),
    Example(
        "openid-risc-1_0.xml",
        "identifier-recycled-example",
        """\
{
  "iss": "https://idp.example.com/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1508184845,
  "aud": "636C69656E745F6964",
  "sub_id": {
    "format": "email",
    "email": "foo@example.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/identifier-recycled": {}
  }
}

""",
        "unsupported_event",
    ),
    Example(
        "openid-risc-1_0.xml",
        "credential-compromise-example",
        """\
{
  "iss": "https://idp.example.com/3456790/",
  "jti": "756E69717565206964656E746966696572",
  "iat": 1508184845,
  "aud": "https://sp.example2.net/caep",
  "sub_id": {
    "format": "iss_sub",
    "iss": "https://idp.example.com/3456790/",
    "sub": "joe.smith@example.com"
  },
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise": {
      "credential_type": "password"
    }
  }
}


""",
        ("subject", "joe.smith@example.com"),
    ),
)
