"""users: POST /, GET /{id}, GET /me."""

from pytest_bdd import then, when

from harness.case import Case


@when("я создаю пользователя с валидными данными")
def create_user(case: Case) -> None:
    case.create_user()


@when("я создаю пользователя без авторизации")
def create_user_unauthorized(case: Case) -> None:
    case.create_user(credential="none")


@when("я создаю пользователя с refresh_token вместо access_token")
def create_user_with_refresh_token(case: Case) -> None:
    case.create_user(credential="refresh")


@when("я создаю пользователя с тем же second_login")
def create_user_duplicate(case: Case) -> None:
    case.create_user(same_second_login=True)


@when("я запрашиваю пользователя по его ID")
def get_own_user(case: Case) -> None:
    case.get_own_user()


@when("я запрашиваю пользователя по несуществующему ID")
def get_nonexistent_user(case: Case) -> None:
    case.get_nonexistent_user()


@when("я запрашиваю пользователя по ID без авторизации")
def get_user_unauthorized(case: Case) -> None:
    case.get_user_unauthorized()


@when("я запрашиваю пользователя по ID с refresh_token вместо access_token")
def get_user_with_refresh_token(case: Case) -> None:
    case.get_user_unauthorized(credential="refresh")


@when("я запрашиваю другого пользователя по его ID")
def get_other_user(case: Case) -> None:
    case.get_other_user()


@then("в ответе данные другого пользователя")
def other_user_data(case: Case) -> None:
    case.expect_other_user()


@when("я запрашиваю /users/me с полученным access_token")
@when("я запрашиваю /users/me со старым access_token")
def me(case: Case) -> None:
    case.me()


@then("в ответе полный объект пользователя")
def full_user_object(case: Case) -> None:
    case.expect_full_user_object()


@then("groups и contacts в ответе совпадают с данными регистрации")
@then("данные пользователя совпадают с данными регистрации")
def user_matches_registration(case: Case) -> None:
    case.expect_user_matches_registration()
