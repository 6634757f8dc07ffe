# Unit tests of the default policy (run: opa test policies/rego -v). One test per rule of the
# contract in policies/README.md: every group, MFA, the site rule, protocol methods, odd input, lists.
package mcp.authz_test

import data.mcp.authz

subject(groups, amr) := {"sub": "alice", "iss": "https://idp.test", "groups": groups, "scopes": [], "amr": amr, "claims": {}}

req := {"protocol_version": "2025-11-25", "session": "s1", "client_address": "127.0.0.1", "time": "2026-01-01T00:00:00Z"}

call(groups, amr, server, tool, action, arguments) := {
	"subject": subject(groups, amr),
	"server": server,
	"method": "tools/call",
	"target": tool,
	"action": action,
	"arguments": arguments,
	"request": req,
}

mfa := ["pwd", "mfa"]

pwd := ["pwd"]

allowed(inp) if authz.decision.allow with input as inp

denied(inp) if {
	d := authz.decision with input as inp
	d.allow == false
	is_string(d.reason)
}

# --- admin ---

test_admin_any_server_any_action if {
	allowed(call(["admin"], mfa, "servicenow", "delete_incident", "write", {}))
	allowed(call(["admin"], mfa, "github", "merge", "execute", {}))
	allowed(call(["admin"], mfa, "some-new-server", "anything", "read", {}))
}

test_admin_bypasses_site_rule if {
	allowed(call(["admin"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "anywhere"}))
}

test_admin_still_needs_mfa_for_write if {
	d := authz.decision with input as call(["admin"], pwd, "servicenow", "create_incident", "write", {})
	d.allow == false
	d.step_up.acr_values == "mfa"
	d.conditional == true
}

# --- network-engineers ---

test_network_engineers_catalyst_all_actions if {
	allowed(call(["network-engineers"], pwd, "catalyst-center", "list_devices", "read", {}))
	allowed(call(["network-engineers"], mfa, "catalyst-center", "update_site", "write", {}))
	allowed(call(["network-engineers"], mfa, "catalyst-center", "sync", "execute", {}))
}

test_network_engineers_nothing_elsewhere if {
	denied(call(["network-engineers"], mfa, "servicenow", "get_incident", "read", {}))
	denied(call(["network-engineers"], mfa, "github", "list_repos", "read", {}))
}

# --- service-desk ---

test_service_desk_servicenow_everything if {
	allowed(call(["service-desk"], pwd, "servicenow", "get_incident", "read", {}))
	allowed(call(["service-desk"], mfa, "servicenow", "create_incident", "write", {}))
	allowed(call(["service-desk"], mfa, "servicenow", "run_flow", "execute", {}))
}

test_service_desk_catalyst_read_only if {
	allowed(call(["service-desk"], pwd, "catalyst-center", "list_devices", "read", {}))
	denied(call(["service-desk"], mfa, "catalyst-center", "update_site", "write", {}))
	denied(call(["service-desk"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"}))
}

test_service_desk_write_denial_is_not_conditional if {
	d := authz.decision with input as call(["service-desk"], pwd, "catalyst-center", "update_site", "write", {})
	not d.conditional
	not d.step_up
}

# --- developers ---

test_developers_github_and_rest_bridge if {
	allowed(call(["developers"], mfa, "github", "create_pr", "write", {}))
	allowed(call(["developers"], pwd, "rest-bridge", "get_thing", "read", {}))
	denied(call(["developers"], mfa, "servicenow", "get_incident", "read", {}))
	denied(call(["developers"], mfa, "catalyst-center", "list_devices", "read", {}))
}

# --- nobody ---

test_no_groups_denied if {
	denied(call([], mfa, "github", "list_repos", "read", {}))
	d := authz.decision with input as call([], mfa, "github", "list_repos", "read", {})
	d.reason == "no grant on server \"github\""
}

test_unknown_group_denied if {
	denied(call(["interns"], mfa, "github", "list_repos", "read", {}))
}

# --- MFA ---

test_read_needs_no_mfa if {
	allowed(call(["developers"], [], "github", "list_repos", "read", {}))
}

test_write_and_execute_need_mfa if {
	every action in ["write", "execute"] {
		d := authz.decision with input as call(["developers"], pwd, "github", "t", action, {})
		d.allow == false
		d.step_up == {"acr_values": "mfa"}
		d.reason == concat("", [action, " requires multi-factor authentication"])
	}
}

test_mfa_methods_from_data if {
	allowed(call(["developers"], ["hwk"], "github", "t", "write", {})) with data.mcp.config.mfa.amr as ["hwk", "mfa"]
}

# --- argument-aware site rule ---

test_site_allowed_by_site_group if {
	allowed(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"}))
}

test_site_not_allowed if {
	d := authz.decision with input as call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "berlin"})
	d.allow == false
	d.conditional == true
	d.reason == "site-scoped tool: sites not allowed for this subject: berlin"
}

test_all_named_sites_must_be_allowed if {
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"sites": ["paris", "lyon"]}))
	allowed(call(["network-engineers", "site:paris", "site:lyon"], mfa, "catalyst-center", "deploy_template", "execute", {"sites": ["paris", "lyon"]}))
}

test_site_rule_checked_before_mfa if {
	# A call that would be refused anyway does not ask for step-up first.
	d := authz.decision with input as call(["network-engineers", "site:paris"], pwd, "catalyst-center", "deploy_template", "execute", {"site": "berlin"})
	not d.step_up
}

test_no_site_named_denied if {
	d := authz.decision with input as call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {})
	d.reason == "site-scoped tool: the call names no site or device"
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", null))
}

test_wrong_types_denied if {
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": ["paris"]}))
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris", "sites": "berlin"}))
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris", "devices": [1]}))
}

inventory := {"sw-par-1": "paris", "sw-ber-1": "berlin"}

test_devices_resolved_through_inventory if {
	allowed(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"devices": ["sw-par-1"]})) with data.mcp.config.device_sites as inventory
	denied(call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris", "devices": ["sw-ber-1"]})) with data.mcp.config.device_sites as inventory
}

test_unknown_device_denied if {
	d := authz.decision with input as call(["network-engineers", "site:paris"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris", "devices": ["sw-x"]})
		with data.mcp.config.device_sites as inventory
	d.reason == "site-scoped tool: unknown devices: sw-x"
}

test_group_sites_mapping if {
	allowed(call(["network-engineers", "neteng-fr"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "lyon"})) with data.mcp.config.group_sites as {"neteng-fr": ["paris", "lyon"]}
}

test_site_rule_only_for_scoped_tools if {
	allowed(call(["network-engineers"], mfa, "catalyst-center", "update_site", "write", {"site": "berlin"}))
}

# --- targets narrow a grant ---

test_grant_targets_glob if {
	roles := {"ops": [{"server": "github", "actions": ["read"], "targets": ["list_*", "get_repo"]}]}
	allowed(call(["ops"], [], "github", "list_repos", "read", {})) with data.mcp.config.roles as roles
	allowed(call(["ops"], [], "github", "get_repo", "read", {})) with data.mcp.config.roles as roles
	denied(call(["ops"], [], "github", "delete_repo", "read", {})) with data.mcp.config.roles as roles
}

# --- other target methods ---

test_prompts_and_resources if {
	allowed({"subject": subject(["developers"], []), "server": "github", "method": "prompts/get", "target": "review", "action": "read", "request": req})
	allowed({"subject": subject(["developers"], []), "server": "github", "method": "resources/read", "target": "repo://x/README.md", "action": "read", "request": req})
	allowed({"subject": subject(["developers"], []), "server": "github", "method": "resources/subscribe", "target": "repo://x", "action": "read", "request": req})
	allowed({"subject": subject(["developers"], []), "server": "github", "method": "completion/complete", "target": "review", "action": "read", "request": req})
	denied({"subject": subject(["developers"], []), "server": "servicenow", "method": "prompts/get", "target": "p", "action": "read", "request": req})
}

# --- protocol methods ---

proto(groups, method) := {"subject": subject(groups, []), "server": "github", "method": method, "request": req}

test_protocol_methods_need_server_access if {
	every m in ["initialize", "ping", "notifications/initialized", "notifications/cancelled", "logging/setLevel", "server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list"] {
		allowed(proto(["developers"], m))
		denied(proto(["service-desk"], m))
	}
}

test_unknown_method_denied if {
	d := authz.decision with input as proto(["developers"], "sampling/createMessage")
	d.allow == false
	d.reason == "method \"sampling/createMessage\" is not covered by any rule"
	denied(proto(["admin"], "x/custom"))
}

# --- odd input ---

test_malformed_inputs_denied if {
	every inp in [
		null,
		1,
		"x",
		[],
		{},
		{"subject": null},
		{"subject": {"sub": "", "groups": [], "amr": []}},
		{"subject": {"sub": "a", "groups": "admin", "amr": []}, "server": "github", "method": "ping"},
		{"subject": {"sub": "a", "groups": ["admin", 1], "amr": []}, "server": "github", "method": "ping"},
		{"subject": {"sub": "a", "groups": ["admin"]}, "server": "github", "method": "ping"},
		{"subject": {"sub": "a", "groups": ["admin"], "amr": []}, "server": 1, "method": "ping"},
		{"subject": {"sub": "a", "groups": ["admin"], "amr": []}, "server": "github"},
		{"subject": {"sub": "a", "groups": ["admin"], "amr": ["mfa"]}, "server": "github", "method": "tools/call", "action": "read"},
		{"subject": {"sub": "a", "groups": ["admin"], "amr": ["mfa"]}, "server": "github", "method": "tools/call", "target": "t", "action": "admin"},
		{"subject": {"sub": "a", "groups": ["admin"], "amr": ["mfa"]}, "server": "github", "method": "tools/call", "target": "t"},
	] {
		denied(inp)
	}
}

test_malformed_reason if {
	d := authz.decision with input as {"subject": {"sub": "a", "groups": ["admin"], "amr": []}, "server": "github"}
	d.reason == "malformed input: method must be a non-empty string"
}

# --- list filter: the same decision, one evaluation per list ---

list_input(groups, amr, server, method, items) := {"subject": subject(groups, amr), "server": server, "method": method, "request": req, "items": items}

catalyst_items := [
	{"target": "list_devices", "action": "read"},
	{"target": "update_site", "action": "write"},
	{"target": "deploy_template", "action": "execute"},
]

test_filter_service_desk_sees_read_tools if {
	f := authz.filter with input as list_input(["service-desk"], mfa, "catalyst-center", "tools/list", catalyst_items)
	f == {"list_devices"}
}

test_filter_keeps_conditional_targets if {
	# Without MFA, write/execute tools stay visible (calling them answers a step-up challenge), and
	# the site-scoped tool stays visible although a call without arguments would be refused.
	f := authz.filter with input as list_input(["network-engineers"], pwd, "catalyst-center", "tools/list", catalyst_items)
	f == {"list_devices", "update_site", "deploy_template"}
}

test_filter_nothing_without_server_access if {
	f := authz.filter with input as list_input(["developers"], mfa, "catalyst-center", "tools/list", catalyst_items)
	f == set()
}

test_filter_agrees_with_decision if {
	every groups in [["admin"], ["service-desk"], ["network-engineers"], ["developers"], []] {
		every item in catalyst_items {
			f := authz.filter with input as list_input(groups, mfa, "catalyst-center", "tools/list", [item])
			d := authz.decision with input as call(groups, mfa, "catalyst-center", item.target, item.action, {"site": "x"})
			visible := item.target in f
			visible == object.get(d, "conditional", d.allow)
		}
	}
}

test_filter_prompts_and_resources if {
	f := authz.filter with input as list_input(["developers"], [], "github", "prompts/list", [{"target": "review", "action": "read"}])
	f == {"review"}
	g := authz.filter with input as list_input(["developers"], [], "github", "resources/templates/list", [{"target": "repo://{owner}/{name}", "action": "read"}])
	g == {"repo://{owner}/{name}"}
}

test_filter_malformed_items_hidden if {
	f := authz.filter with input as list_input(["admin"], mfa, "github", "tools/list", [{"target": 1, "action": "read"}, {"target": "ok", "action": "bogus"}, {"target": "fine", "action": "read"}])
	f == {"fine"}
	g := authz.filter with input as list_input(["admin"], mfa, "github", "tools/list", "not-a-list")
	g == set()
}

test_filter_only_for_list_methods if {
	f := authz.filter with input as list_input(["admin"], mfa, "github", "tools/call", [{"target": "t", "action": "read"}])
	f == set()
}

# --- the reference platform's servers (issue 13): devices, workflows, github, servicenow ---
# Actions as the gateway derives them from the adapters' annotations (readOnlyHint → read,
# destructiveHint → write, else execute), or as examples/platform/gateway.yaml configures them.

test_network_engineers_devices_and_workflows if {
	allowed(call(["network-engineers"], pwd, "devices", "list_devices", "read", {}))
	allowed(call(["network-engineers"], mfa, "devices", "run_command", "execute", {"devices": ["edge-1"], "command": "show version"}))
	allowed(call(["network-engineers"], mfa, "workflows", "deploy_template", "execute", {"templateId": "t", "targets": ["edge-1"]}))
	allowed(call(["network-engineers"], pwd, "workflows", "get_deployment", "read", {}))
}

test_device_commands_need_mfa_even_when_annotated_read if {
	# run_command is read-only on the device (readOnlyHint), but reaching a device's CLI needs MFA.
	d := authz.decision with input as call(["network-engineers"], pwd, "devices", "run_command", "read", {"devices": ["edge-1"]})
	d.allow == false
	d.conditional == true
	d.step_up == {"acr_values": "mfa"}
	d.reason == "\"run_command\" requires multi-factor authentication"
	allowed(call(["network-engineers"], mfa, "devices", "run_command", "read", {"devices": ["edge-1"]}))
}

test_deploy_template_workflow_network_engineers_and_admin_with_mfa if {
	every groups in [["network-engineers"], ["admin"]] {
		allowed(call(groups, mfa, "workflows", "deploy_template", "execute", {}))
		d := authz.decision with input as call(groups, pwd, "workflows", "deploy_template", "execute", {})
		d.step_up == {"acr_values": "mfa"}
	}

	# Even if it were declared read, it stays behind MFA.
	denied(call(["network-engineers"], pwd, "workflows", "deploy_template", "read", {}))
	every groups in [["service-desk"], ["developers"], []] {
		denied(call(groups, mfa, "workflows", "deploy_template", "execute", {}))
	}
}

test_service_desk_read_only_network_no_commands_no_deploy if {
	allowed(call(["service-desk"], pwd, "devices", "list_devices", "read", {}))
	allowed(call(["service-desk"], pwd, "devices", "get_device", "read", {"name": "edge-1"}))
	d := authz.decision with input as call(["service-desk"], mfa, "devices", "run_command", "read", {"devices": ["edge-1"]})
	d.allow == false
	d.reason == "no grant for read on \"run_command\""
	not d.conditional

	# Catalyst Center: reads yes, but not its command runner even if annotated read-only, nor deploys.
	allowed(call(["service-desk"], pwd, "catalyst-center", "get_device_health", "read", {}))
	denied(call(["service-desk"], mfa, "catalyst-center", "run_command", "read", {"site": "paris"}))
	denied(call(["service-desk"], mfa, "catalyst-center", "run_read_only_commands", "read", {}))
	denied(call(["service-desk"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"}))
	denied(call(["service-desk"], mfa, "catalyst-center", "deploy_template", "read", {"site": "paris"}))
	denied(call(["service-desk"], mfa, "workflows", "deploy_template", "execute", {}))
}

test_service_desk_servicenow_incident_lifecycle if {
	allowed(call(["service-desk"], pwd, "servicenow", "get_incident", "read", {"number": "INC0010001"}))
	allowed(call(["service-desk"], mfa, "servicenow", "create_incident", "execute", {}))
	allowed(call(["service-desk"], mfa, "servicenow", "resolve_incident", "execute", {}))
	d := authz.decision with input as call(["service-desk"], pwd, "servicenow", "resolve_incident", "execute", {})
	d.step_up == {"acr_values": "mfa"}
}

test_developers_github_tools if {
	allowed(call(["developers"], pwd, "github", "get_repository", "read", {}))
	allowed(call(["developers"], mfa, "github", "create_issue", "execute", {"owner": "o", "repo": "r", "title": "t"}))
	allowed(call(["developers"], mfa, "github", "delete_label", "write", {}))
	denied(call(["developers"], pwd, "github", "create_issue", "execute", {}))
	denied(call(["developers"], mfa, "devices", "list_devices", "read", {}))
	denied(call(["developers"], mfa, "workflows", "deploy_template", "execute", {}))
	denied(call(["network-engineers"], mfa, "github", "get_repository", "read", {}))
	denied(call(["service-desk"], mfa, "github", "get_repository", "read", {}))
}

test_admin_everything_on_the_platform if {
	every server in ["servicenow", "catalyst-center", "github", "devices", "rest-bridge", "workflows"] {
		allowed(call(["admin"], mfa, server, "any_tool", "execute", {"site": "x"}))
	}
	allowed(call(["admin"], mfa, "devices", "run_command", "read", {}))
	denied(call(["admin"], pwd, "devices", "run_command", "read", {}))
}

test_grant_except_glob if {
	roles := {"ops": [{"server": "s", "actions": ["read"], "except": ["run_*"]}]}
	allowed(call(["ops"], [], "s", "list_x", "read", {})) with data.mcp.config.roles as roles
	denied(call(["ops"], [], "s", "run_x", "read", {})) with data.mcp.config.roles as roles
}

device_items := [
	{"target": "list_devices", "action": "read"},
	{"target": "get_device", "action": "read"},
	{"target": "run_command", "action": "read"},
]

test_filter_devices_per_group if {
	sd := authz.filter with input as list_input(["service-desk"], mfa, "devices", "tools/list", device_items)
	sd == {"list_devices", "get_device"}

	# Without MFA a network engineer still sees run_command: calling it answers a step-up challenge.
	ne := authz.filter with input as list_input(["network-engineers"], pwd, "devices", "tools/list", device_items)
	ne == {"list_devices", "get_device", "run_command"}
	dev := authz.filter with input as list_input(["developers"], mfa, "devices", "tools/list", device_items)
	dev == set()
}

# --- human approval (cfg.require_approval) ---

approval_cfg := object.union(data.mcp.config, {"require_approval": {"catalyst-center": ["deploy_*"]}})

test_require_approval_marks_matching_allowed_calls if {
	d := authz.decision with input as call(["admin"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"})
		with data.mcp.config as approval_cfg
	d.allow == true
	d.require_approval == true
}

test_require_approval_leaves_other_tools_and_servers_alone if {
	d := authz.decision with input as call(["admin"], mfa, "catalyst-center", "get_devices", "read", {})
		with data.mcp.config as approval_cfg
	d.allow == true
	not d.require_approval
	e := authz.decision with input as call(["admin"], mfa, "servicenow", "deploy_x", "execute", {})
		with data.mcp.config as approval_cfg
	not e.require_approval
}

test_require_approval_never_turns_a_deny_into_an_allow if {
	denied(call(["service-desk"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"})) with data.mcp.config as approval_cfg
}

test_no_approval_by_default if {
	d := authz.decision with input as call(["admin"], mfa, "catalyst-center", "deploy_template", "execute", {"site": "paris"})
	not d.require_approval
}
