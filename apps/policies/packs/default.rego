# FixOps default policy pack (Rego v1), version in default.json `pack_version`.
# Input: docs/policy-input.schema.json.
#
# Most rules read input.profiles: every open or accepted finding is in exactly one profile
# (findings sharing kind, severity, KEV, SSVC, actionability, acceptance, SLA state, scope),
# and a reason naming a profile's ref names all its findings. Accepted findings and findings
# whose VEX state says they do not apply are not `actionable`: they never deny or review, and
# FX-ACCEPTED keeps the accepted ones visible.
package fixops.gate

import rego.v1

params := data.fixops.params

# A reason naming profiles: "%d" in the message becomes the number of findings in them.
grouped(rule, template, ps) := {
	"rule": rule,
	"message": sprintf(template, [sum([p.count | some p in ps])]),
	"profiles": [p.ref | some p in ps],
}

# FX-SECRET: a leaked secret is compromised the moment it is pushed.
secrets := [p | some p in input.profiles; p.kind == "secret"; p.actionable]

deny contains grouped("FX-SECRET", "%d leaked secret(s): revoke and remove them", secrets) if {
	count(secrets) > 0
}

# FX-LOST-RESULTS: a scan in scope could not read some of its results. What they reported is
# unknown, so the findings alone cannot allow the change: at least a person looks.
lossy := [s | some s in input.scans; s.counts.lost > 0]

scan_name(s) := s.tool if s.tool != ""

scan_name(s) := s.format if s.tool == ""

# (concat, not sprintf's %s, joins the parts: rego-cpp mis-serialises a concat result passed
# through %s.)
review contains {"rule": "FX-LOST-RESULTS", "message": concat("", [head, concat("; ", scans)])} if {
	count(lossy) > 0
	lost := sum([s.counts.lost | some s in lossy])
	results := sum([s.counts.results | some s in lossy])
	head := sprintf("%d of %d result(s) could not be read, so what they report is unknown: ", [lost, results])
	scans := [sprintf("scan %d (%s) lost %d of %d", [s.id, scan_name(s), s.counts.lost, s.counts.results]) | some s in lossy]
}

# FX-KEV-EXPOSED / FX-KEV-INTERNAL: known exploited vulnerabilities (CISA KEV).
kev := [p | some p in input.profiles; p.kev; p.actionable]

deny contains grouped("FX-KEV-EXPOSED", "%d CISA KEV finding(s) in an internet-exposed application", kev) if {
	input.application.internet_exposed
	count(kev) > 0
}

review contains grouped("FX-KEV-INTERNAL", "%d CISA KEV finding(s) in an internal application", kev) if {
	not input.application.internet_exposed
	count(kev) > 0
}

# FX-SSVC-ACT: CISA SSVC says act now.
act := [p | some p in input.profiles; p.ssvc in params.block_ssvc; p.actionable]

deny contains grouped("FX-SSVC-ACT", concat("", ["%d finding(s) with SSVC decision ", concat("/", params.block_ssvc)]), act) if {
	count(act) > 0
}

# FX-SSVC-ATTEND: SSVC Attend / Track* need a person before shipping.
attend := [p | some p in input.profiles; p.ssvc in params.review_ssvc; p.actionable]

review contains grouped("FX-SSVC-ATTEND", concat("", ["%d finding(s) with SSVC decision ", concat("/", params.review_ssvc)]), attend) if {
	count(attend) > 0
}

# FX-SLA: findings of the listed severities open past their SLA.
late := [p | some p in input.profiles; p.past_sla; p.severity in params.sla_review_severities; p.actionable]

review contains grouped("FX-SLA", concat("", ["%d ", concat("/", params.sla_review_severities), " finding(s) open past their SLA"]), late) if {
	count(late) > 0
}

# FX-EPSS: likely to be exploited soon (FIRST EPSS). Per finding, from input.findings, which
# lists every finding at or above the threshold (the candidate filter follows epss_warn).
epss_ids := sort([f.id | some f in input.findings; f.epss != null; f.epss >= params.epss_warn; f.accepted == null; not f.vex in not_affected])

not_affected := {"not_affected", "false_positive", "resolved", "resolved_with_pedigree"}

warn contains {"rule": "FX-EPSS", "message": sprintf("%d finding(s) with EPSS >= %v", [count(epss_ids), params.epss_warn]), "finding_ids": epss_ids} if {
	count(epss_ids) > 0
}

# FX-ACCEPTED: what passes only because a risk acceptance covers it, and when that ends.
accepted := [p | some p in input.profiles; p.accepted]

warn contains grouped("FX-ACCEPTED", concat("", ["%d finding(s) pass under risk acceptance; the first expires in ", format_int(days, 10), " day(s)"]), accepted) if {
	count(accepted) > 0
	days := floor((min([p.first_expiry_ns | some p in accepted]) - input.now_ns) / 86400000000000)
}
