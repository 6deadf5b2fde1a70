# bench/seed.jq - the seed rule's query (detection-rules seed-history/2025-07-22_2a73a572fb.toml)
# written for jq over raw audit.k8s.io/v1 Event NDJSON, the way a user would do it today.
#
#   host.os.type:"linux" and event.dataset:"kubernetes.audit_logs"
#       constants for a raw audit log read by kadet (the agent would add them): always true
#   and kubernetes.audit.stage:"ResponseComplete"     kubernetes.audit.X = raw .X
#   and user_agent.original:*                          user_agent.original = raw .userAgent;
#                                                      exists: "" counts, null/absent do not
#
# Output: the rule's new-terms tuple for each matching event, as a JSON array:
#   [kubernetes.audit.annotations.authorization_k8s_io/decision   (raw annotation
#        "authorization.k8s.io/decision"),
#    kubernetes.audit.user.username (raw .user.username), user_agent.original]
# The benchmark counts distinct complete tuples (all three strings) afterwards, outside the
# timing, as a cross-check against the reference extractor and kadet.
select(.stage == "ResponseComplete" and .userAgent != null)
| [.annotations["authorization.k8s.io/decision"], .user.username, .userAgent]
