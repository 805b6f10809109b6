// The Authorization field against the credentials of settings.web_auth_file: Basic (RFC 7617) and
// Bearer (RFC 6750), schemes case-insensitive, credentials exact, strict base64.

#include "web/auth.h"

#include <gtest/gtest.h>

#include "common/sha256.h"

namespace fetchd::web {
namespace {

config::WebAuth both() {
  config::WebAuth auth;
  auth.basic.push_back(sha256("prometheus:secret"));
  auth.bearer.push_back(sha256("tok.en-1"));
  return auth;
}

TEST(WebAuth, BasicCredentialsOfAConfiguredUserAreAccepted) {
  const auto auth = both();
  // base64("prometheus:secret")
  EXPECT_TRUE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZXQ="));
  EXPECT_TRUE(authorized(auth, "basic cHJvbWV0aGV1czpzZWNyZXQ="));
  EXPECT_TRUE(authorized(auth, "BASIC   cHJvbWV0aGV1czpzZWNyZXQ=  "));
  // base64("prometheus:secreT"), base64("other:secret"), base64("prometheussecret")
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZVQ="));
  EXPECT_FALSE(authorized(auth, "Basic b3RoZXI6c2VjcmV0"));
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1c3NlY3JldA=="));
}

TEST(WebAuth, MalformedBase64IsRefused) {
  const auto auth = both();
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZXQ"));    // padding missing
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1czpz=WNyZXQ="));   // '=' inside
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZXQ=="));  // one '=' too many
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0a GV1czpzZWNyZXQ="));
  EXPECT_FALSE(authorized(auth, "Basic "));
  EXPECT_FALSE(authorized(auth, "Basic"));
}

// RFC 4648 §3.5: the bits a padded quantum does not use are zero. "ZXR=" and "Yx==" decode to the
// same bytes as "ZXQ=" and "Yw==", but are not the encoding of anything.
TEST(WebAuth, Base64WithNonZeroUnusedBitsIsRefused) {
  auto auth = both();
  auth.basic.push_back(sha256("ab:c"));
  EXPECT_TRUE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZXQ="));
  EXPECT_FALSE(authorized(auth, "Basic cHJvbWV0aGV1czpzZWNyZXR="));
  EXPECT_TRUE(authorized(auth, "Basic YWI6Yw=="));
  EXPECT_FALSE(authorized(auth, "Basic YWI6Yx=="));
}

TEST(WebAuth, BearerTokensCompareExactly) {
  const auto auth = both();
  EXPECT_TRUE(authorized(auth, "Bearer tok.en-1"));
  EXPECT_TRUE(authorized(auth, "bearer tok.en-1"));
  EXPECT_FALSE(authorized(auth, "Bearer tok.en-2"));
  EXPECT_FALSE(authorized(auth, "Bearer TOK.EN-1"));
  EXPECT_FALSE(authorized(auth, "Bearer tok.en-1x"));
  EXPECT_FALSE(authorized(auth, "Token tok.en-1"));
}

TEST(WebAuth, NothingIsAcceptedWithoutTheField) {
  EXPECT_FALSE(authorized(both(), std::nullopt));
  EXPECT_FALSE(authorized(both(), ""));
}

TEST(WebAuth, OnlyTheConfiguredSchemesAreAcceptedAndChallenged) {
  config::WebAuth basic_only;
  basic_only.basic.push_back(sha256("prometheus:secret"));
  EXPECT_FALSE(authorized(basic_only, "Bearer prometheus:secret"));
  EXPECT_EQ(challenges(basic_only),
            "WWW-Authenticate: Basic realm=\"fetchd\", charset=\"UTF-8\"\r\n");
  config::WebAuth bearer_only;
  bearer_only.bearer.push_back(sha256("tok.en-1"));
  EXPECT_FALSE(authorized(bearer_only, "Basic cHJvbWV0aGV1czpzZWNyZXQ="));
  EXPECT_EQ(challenges(bearer_only), "WWW-Authenticate: Bearer realm=\"fetchd\"\r\n");
}

}  // namespace
}  // namespace fetchd::web
