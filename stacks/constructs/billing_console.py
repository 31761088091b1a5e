"""The billing console (issue 17): a private bucket behind its own CloudFront distribution (OAC),
Cognito sign-in (user pool with optional TOTP MFA, identity pool) and one IAM role per staff group.

- The page and its assets (console/dist, built by `make console`) live in a private S3 bucket
  that only this distribution may read (Origin Access Control). A response headers policy sets a
  strict Content-Security-Policy (no inline script or style, no eval) and the other security
  headers on every answer.
- ``/v1/*`` on the same distribution forwards to the credits API stage (Host rewritten to the
  stage's, caching off), so the page calls its own origin: no CORS on the API. The page signs
  each request with SigV4 for the stage's URL; API Gateway checks it with IAM as for any caller.
- Staff sign in with Cognito's managed login (passwords, optional TOTP MFA). The identity pool's
  role mapping turns the ``cognito:groups`` claim into the BillingAdmin or the BillingReader role;
  a user in neither group gets no credentials (ambiguous or unmatched: deny).
- Each role may invoke exactly the routes ``console/staff_access.py`` lists for its group, through a
  managed policy that ``BillingStaffPolicies`` creates in the API's stack.
- ``BillingConsoleStack`` holds all of it but those policies, in a stack of its own.
- ``config.json`` next to the page tells it the stage URL, region and Cognito ids.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from console.staff_access import ADMIN_GROUP, READER_GROUP, ROUTES_BY_GROUP, ApiRoute
from stacks.constructs.content_origin import AccessLogsBucket
from stacks.nag import acknowledge, nag_account, nag_partition
from stacks.settings import EdgemeterSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIST = PROJECT_ROOT / "console" / "dist"
CONSOLE_CONFIG_FILE = "config.json"
CONSOLE_INDEX = "index.html"
API_PATH_PATTERN = "/v1/*"
COGNITO_IDENTITY_AUDIENCE = "cognito-identity.amazonaws.com"


def console_content_security_policy(region: str, cognito_domain_url: str) -> str:
    """The deployed CSP: the page's own origin, plus the Cognito endpoints sign-in talks to."""
    connect = [
        "'self'",
        cognito_domain_url,
        f"https://cognito-identity.{region}.amazonaws.com",
        f"https://cognito-idp.{region}.amazonaws.com",
    ]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            f"form-action 'self' {cognito_domain_url}",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


class BillingStaffPolicies(Construct):
    """One managed policy per staff group, next to the API: execute-api:Invoke on its routes only.

    They live in the stack of the API (the ARNs name its id there, and cdk-nag's findings with
    them); the console's group roles, in the console's stack, attach them.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, rest_api: apigateway.RestApi, stage_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.rest_api = rest_api
        self.stage_name = stage_name
        self.policies: dict[str, iam.IManagedPolicy] = {
            group: iam.ManagedPolicy(
                self,
                f"{group}Policy",
                description=f"edgemeter billing console, {group}: execute-api:Invoke on its routes only",
                statements=[
                    iam.PolicyStatement(
                        actions=["execute-api:Invoke"],
                        resources=[self._route_arn(route) for route in routes],
                    )
                ],
            )
            for group, routes in ROUTES_BY_GROUP.items()
        }
        self._acknowledge_route_wildcards()

    def _route_arn(self, route: ApiRoute) -> str:
        return self.rest_api.arn_for_execute_api(route.method, route.path, self.stage_name)

    def _acknowledge_route_wildcards(self) -> None:
        stack = Stack.of(self)
        api_logical_id = stack.get_logical_id(self.rest_api.node.default_child)  # type: ignore[arg-type]
        api_arn_prefix = f"arn:{nag_partition(stack)}:execute-api:{stack.region}:{nag_account(stack)}"
        for group, policy in self.policies.items():
            for route in ROUTES_BY_GROUP[group]:
                if "*" not in route.path:
                    continue
                acknowledge(
                    policy,
                    f"AwsSolutions-IAM5[Resource::{api_arn_prefix}:<{api_logical_id}>/{self.stage_name}/"
                    f"{route.method}{route.path}]",
                    f"{group} may call {route.method} {route.path} for any account: the wildcard stands for "
                    "the account (and key) id, the method is fixed (console/staff_access.py).",
                )


class BillingConsole(Construct):
    """The deployed console; ``url`` is where staff open it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigateway.RestApi,
        stage_name: str,
        staff_policies: dict[str, iam.IManagedPolicy],
        access_logs: s3.IBucket,
        domain_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.staff_policies = staff_policies
        if not (CONSOLE_DIST / CONSOLE_INDEX).is_file():
            raise FileNotFoundError(f"{CONSOLE_DIST} is not built: run `make console` before synth")
        self.rest_api = rest_api
        self.stage_name = stage_name
        self.bucket = self._build_bucket(access_logs)
        self.user_pool = self._build_user_pool()
        self.domain = self.user_pool.add_domain(
            "SignIn", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix)
        )
        self.distribution = self._build_distribution(access_logs)
        self.url = f"https://{self.distribution.distribution_domain_name}/"
        self.client = self._build_client()
        self.identity_pool = self._build_identity_pool()
        self.roles = {group: self._build_group_role(group, self.identity_pool) for group in ROUTES_BY_GROUP}
        self._map_groups_to_roles()
        self._deploy_site()
        self._acknowledge_findings()

    def _build_bucket(self, access_logs: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="billing-console-bucket/",
            # Only built files live here; the next deploy writes them again.
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )

    def _build_user_pool(self) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "Staff",
            self_sign_up_enabled=False,  # staff are added by an administrator (README)
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for group in ROUTES_BY_GROUP:
            cognito.CfnUserPoolGroup(
                self,
                f"{group}Group",
                user_pool_id=pool.user_pool_id,
                group_name=group,
                description=f"edgemeter billing console: {group}",
            )
        return pool

    def _build_client(self) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "Console",
            generate_secret=False,  # a browser cannot keep a secret: authorization code + PKCE
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                # COGNITO_ADMIN: the user's own access token may enrol an authenticator (TOTP).
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.COGNITO_ADMIN,
                ],
                callback_urls=[self.url],
                logout_urls=[self.url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(8),
        )

    def _build_distribution(self, access_logs: s3.IBucket) -> cloudfront.Distribution:
        region = Stack.of(self).region
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="edgemeter billing console: strict CSP and security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=console_content_security_policy(region, self.domain.base_url()),
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
            ),
        )
        api_behavior = cloudfront.BehaviorOptions(
            origin=origins.RestApiOrigin(self.rest_api, origin_path=f"/{self.stage_name}"),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            # Every viewer header but Host reaches the stage (Authorization, X-Amz-*): the signature
            # was made for the stage's host, which CloudFront sends in Host.
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=headers,
        )
        return cloudfront.Distribution(
            self,
            "Distribution",
            comment="edgemeter billing console",
            default_root_object=CONSOLE_INDEX,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
            ),
            additional_behaviors={API_PATH_PATTERN: api_behavior},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="billing-console/",
            log_includes_cookies=False,
        )

    def _build_group_role(self, group: str, identity_pool: cognito.CfnIdentityPool) -> iam.Role:
        """The role a member of ``group`` gets from the identity pool: its routes and nothing else."""
        return iam.Role(
            self,
            f"{group}Role",
            description=f"edgemeter billing console, {group}: execute-api:Invoke on its routes only",
            # Only authenticated identities of this identity pool may assume it.
            assumed_by=iam.WebIdentityPrincipal(
                COGNITO_IDENTITY_AUDIENCE,
                {
                    "StringEquals": {f"{COGNITO_IDENTITY_AUDIENCE}:aud": identity_pool.ref},
                    "ForAnyValue:StringLike": {f"{COGNITO_IDENTITY_AUDIENCE}:amr": "authenticated"},
                },
            ),
            max_session_duration=Duration.hours(1),
            managed_policies=[self.staff_policies[group]],
        )

    def _build_identity_pool(self) -> cognito.CfnIdentityPool:
        return cognito.CfnIdentityPool(
            self,
            "Identities",
            allow_unauthenticated_identities=False,
            allow_classic_flow=False,
            cognito_identity_providers=[
                cognito.CfnIdentityPool.CognitoIdentityProviderProperty(
                    client_id=self.client.user_pool_client_id,
                    provider_name=self.user_pool.user_pool_provider_name,
                    server_side_token_check=True,
                )
            ],
        )

    def _map_groups_to_roles(self) -> None:
        """The identity pool's role mapping: the ``cognito:groups`` claim picks the role."""
        provider = f"{self.user_pool.user_pool_provider_name}:{self.client.user_pool_client_id}"
        # Admin first: a member of both groups is an admin. A user in neither group matches no
        # rule, and AmbiguousRoleResolution=Deny gives them no credentials at all.
        rules = [
            cognito.CfnIdentityPoolRoleAttachment.MappingRuleProperty(
                claim="cognito:groups",
                match_type="Contains",
                value=group,
                role_arn=self.roles[group].role_arn,
            )
            for group in (ADMIN_GROUP, READER_GROUP)
        ]
        cognito.CfnIdentityPoolRoleAttachment(
            self,
            "RoleMapping",
            identity_pool_id=self.identity_pool.ref,
            # The pool's default authenticated role (required) is the least privileged one.
            roles={"authenticated": self.roles[READER_GROUP].role_arn},
            role_mappings={
                "staff": cognito.CfnIdentityPoolRoleAttachment.RoleMappingProperty(
                    type="Rules",
                    ambiguous_role_resolution="Deny",
                    identity_provider=provider,
                    rules_configuration=cognito.CfnIdentityPoolRoleAttachment.RulesConfigurationTypeProperty(
                        rules=rules
                    ),
                )
            },
        )

    def _deploy_site(self) -> None:
        config = {
            "mode": "cognito",
            "apiUrl": self.rest_api.url_for_path("/"),
            "region": Stack.of(self).region,
            "userPoolId": self.user_pool.user_pool_id,
            "userPoolClientId": self.client.user_pool_client_id,
            "identityPoolId": self.identity_pool.ref,
            "cognitoDomain": self.domain.base_url(),
        }
        deployment = s3_deployment.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                s3_deployment.Source.asset(str(CONSOLE_DIST), exclude=[".built"]),
                s3_deployment.Source.json_data(CONSOLE_CONFIG_FILE, config),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
        )
        self._acknowledge_deployment_findings(deployment)

    def _acknowledge_deployment_findings(self, deployment: s3_deployment.BucketDeployment) -> None:
        """CDK's BucketDeployment runs once per deploy (a stack-level singleton Lambda and role)."""
        stack = Stack.of(self)
        singleton = next(
            child for child in stack.node.children if child.node.id.startswith("Custom::CDKBucketDeployment")
        )
        acknowledge(
            singleton,
            "AwsSolutions-L1",
            "CDK's own BucketDeployment handler: its runtime is chosen and upgraded by aws-cdk-lib.",
        )
        acknowledge(
            deployment.handler_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment handler role (deploy time only); the managed policy writes its logs.",
        )
        grants = {
            "Action::s3:GetBucket*": "reads the CDK asset of the built console",
            "Action::s3:GetObject*": "reads the CDK asset of the built console",
            "Action::s3:List*": "lists the asset and the site bucket to prune old files",
            "Action::s3:Abort*": "writes the console's files into the site bucket",
            "Action::s3:DeleteObject*": "prunes files a new build no longer has from the site bucket",
            f"Resource::arn:aws:s3:::cdk-hnb659fds-assets-{nag_account(stack)}-{stack.region}/*": (
                "CDK's bootstrap asset bucket, where the built console is uploaded"
            ),
            f"Resource::<{stack.get_logical_id(self.bucket.node.default_child)}.Arn>/*": (  # type: ignore[arg-type]
                "every object of the console's own site bucket, which holds nothing else"
            ),
            "Resource::*": "invalidates the console's distribution (CreateInvalidation, GetInvalidation)",
        }
        for finding, reason in grants.items():
            acknowledge(
                deployment.handler_role,
                f"AwsSolutions-IAM5[{finding}]",
                f"CDK's BucketDeployment handler (deploy time only) {reason}.",
            )

    def _acknowledge_findings(self) -> None:
        self._acknowledge_pool_and_distribution_findings()

    def _acknowledge_pool_and_distribution_findings(self) -> None:
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA is available to every staff member (TOTP, optional) as issue 17 asks; making it required is "
            "one setting (mfa=REQUIRED) once every staff member has enrolled an authenticator.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "Threat protection needs Cognito's Plus feature plan (billed per user); the pool holds a few "
            "staff accounts created by an administrator, with no self sign-up, and offers TOTP MFA.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "Billing staff may work from any country; access needs a Cognito sign-in and an IAM signature.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "The page is static and public-safe (config ids only); every API call behind it needs a SigV4 "
            "signature of a staff role, which a web ACL would not add to.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR4",
            "The console uses CloudFront's default *.cloudfront.net certificate, whose TLS policy CloudFront "
            "fixes; a custom domain with its own certificate can raise it.",
        )


class BillingConsoleStack(Stack):
    """The console in a stack of its own, in the main region, next to the credits API it calls.

    Its own stack keeps the main stack's template as it was (one distribution, one API) and lets
    the console be deployed, updated or removed without touching the metering path. It reads the
    credits API's id and URL from the main stack (cross-stack references) and keeps its own access
    logs bucket: logging into the main stack's bucket would make that bucket's policy name this
    stack's resources, a reference cycle between the two stacks.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EdgemeterSettings,
        rest_api: apigateway.RestApi,
        stage_name: str,
        staff_policies: dict[str, iam.IManagedPolicy],
        account: str | None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=f"{settings.stack_name_prefix}-billing-console",
            env=Environment(account=account, region=settings.region),
            description="edgemeter billing console: static page (CloudFront + S3), Cognito staff sign-in",
        )
        access_logs = AccessLogsBucket(self, "AccessLogs", retention_days=settings.log_retention_days).bucket
        self.console = BillingConsole(
            self,
            "BillingConsole",
            rest_api=rest_api,
            stage_name=stage_name,
            staff_policies=staff_policies,
            access_logs=access_logs,
            # Cognito domain prefixes are global: the account id keeps deployments apart.
            domain_prefix=f"{settings.stack_name_prefix.lower()}-billing-{self.account}",
        )
        # Stack-level outputs keep plain names: ConsoleUrl, StaffUserPoolId (README, adding staff).
        CfnOutput(self, "ConsoleUrl", value=self.console.url, description="The billing console")
        CfnOutput(
            self,
            "StaffUserPoolId",
            value=self.console.user_pool.user_pool_id,
            description="Billing staff users (add them with aws cognito-idp admin-create-user)",
        )
