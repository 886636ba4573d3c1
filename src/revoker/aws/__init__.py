"""AWS: the API Gateway Lambda authorizer, the revoke and EventBridge handlers, pass-through.

Lambda handler entry points (one module each, nothing imported here, so a
handler's cold start loads only what that handler needs):

- ``revoker.aws.lambda_authorizer.handler``: REST TOKEN/REQUEST and HTTP API
  payload 1.0/2.0 authorizer events.
- ``revoker.aws.revoke_handler.handler``: ``/revoke`` and ``/admin/...`` behind
  API Gateway (proxy events, REST v1 and HTTP API v2).
- ``revoker.aws.events_handler.handler``: Cognito's CloudTrail events from
  EventBridge, turned into subject rules.

boto3 is imported only where a DynamoDB store, a Cognito or an API Gateway
call needs it, and then only when first used.
"""
