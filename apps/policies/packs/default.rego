# FixOps default policy pack (Rego v1). Input: docs/policy-input.schema.json.
# Each rule names the findings that triggered it; accepted findings and findings whose VEX
# state says they do not apply never deny or review (FX-ACCEPTED keeps them visible).
package fixops.gate

import rego.v1

params := data.fixops.params

not_affected := {"not_affected", "false_positive", "resolved", "resolved_with_pedigree"}

actionable(f) if {
	f.accepted == null
	not f.vex in not_affected
}

reason(rule, message, ids) := {"rule": rule, "message": message, "finding_ids": ids}

# FX-SECRET: a leaked secret is compromised the moment it is pushed.
secret_ids := sort([f.id | some f in input.findings; f.kind == "secret"; actionable(f)])

deny contains reason("FX-SECRET", sprintf("%d leaked secret(s): revoke and remove them", [count(secret_ids)]), secret_ids) if {
	count(secret_ids) > 0
}

# FX-KEV-EXPOSED: known exploited vulnerabilities in an internet-exposed application.
kev_ids := sort([f.id | some f in input.findings; f.kev; actionable(f)])

deny contains reason("FX-KEV-EXPOSED", sprintf("%d CISA KEV vulnerabilit(y/ies) in an internet-exposed application", [count(kev_ids)]), kev_ids) if {
	input.application.internet_exposed
	count(kev_ids) > 0
}

# FX-KEV-INTERNAL: the same in an internal application needs a person to look.
review contains reason("FX-KEV-INTERNAL", sprintf("%d CISA KEV vulnerabilit(y/ies) in an internal application", [count(kev_ids)]), kev_ids) if {
	not input.application.internet_exposed
	count(kev_ids) > 0
}

# FX-SSVC-ACT: CISA SSVC says act now.
act_ids := sort([f.id | some f in input.findings; f.ssvc in params.block_ssvc; actionable(f)])

deny contains reason("FX-SSVC-ACT", sprintf("%d finding(s) with SSVC decision %v", [count(act_ids), params.block_ssvc]), act_ids) if {
	count(act_ids) > 0
}

# FX-SSVC-ATTEND: SSVC Attend / Track* need attention before shipping.
attend_ids := sort([f.id | some f in input.findings; f.ssvc in params.review_ssvc; actionable(f)])

review contains reason("FX-SSVC-ATTEND", sprintf("%d finding(s) with SSVC decision %v", [count(attend_ids), params.review_ssvc]), attend_ids) if {
	count(attend_ids) > 0
}

# FX-SLA: findings of the listed severities open past their SLA.
sla_ids := sort([f.id |
	some f in input.findings
	f.past_sla
	f.severity in params.sla_review_severities
	actionable(f)
])

review contains reason("FX-SLA", sprintf("%d %v finding(s) open past their SLA", [count(sla_ids), params.sla_review_severities]), sla_ids) if {
	count(sla_ids) > 0
}

# FX-EPSS: likely to be exploited soon (FIRST EPSS), worth a warning.
epss_ids := sort([f.id | some f in input.findings; f.epss != null; f.epss >= params.epss_warn; actionable(f)])

warn contains reason("FX-EPSS", sprintf("%d finding(s) with EPSS >= %v", [count(epss_ids), params.epss_warn]), epss_ids) if {
	count(epss_ids) > 0
}

# FX-ACCEPTED: what passes only because a risk acceptance covers it, and when that ends.
accepted := [f | some f in input.findings; f.accepted != null]

warn contains reason("FX-ACCEPTED", sprintf("%d finding(s) pass under risk acceptance; the first expires in %d day(s)", [count(accepted), days]), sort([f.id | some f in accepted])) if {
	count(accepted) > 0
	days := floor((min([f.accepted.expires_ns | some f in accepted]) - input.now_ns) / 86400000000000)
}
